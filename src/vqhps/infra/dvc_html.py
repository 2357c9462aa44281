"""An HTML template for ``dvc plots show`` / ``dvc plots diff`` whose charts draw without a network.

DVC's own page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline every chart is blank (image
plots still show). :func:`install` writes a DVC HTML template with the three libraries inlined (the bundle
that ``vl-convert-python`` ships, Vega-Lite 5 as in DVC's plot templates) and points this clone's DVC at it
(``plots.html_template`` in the git-ignored ``.dvc/config.local``). ``make install`` runs it::

    python -m vqhps.infra.dvc_html  # writes .cache/vqhps/dvc_plots.html and sets the local DVC config

Without it DVC keeps its CDN page (charts draw when online).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from vqhps.io.atomic import write_text_atomic

TEMPLATE = Path(".cache/vqhps/dvc_plots.html")  # from the repository root; git- and DVC-ignored
VEGA_LITE_VERSION = "5.21"  # DVC's plot templates are Vega-Lite v5 specs

# DVC fills {plot_divs} (one <div> per chart, each with an inline script calling vegaEmbed) and
# {refresh_tag}; {scripts}, where its CDN <script> tags would go, is left out on purpose.
_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>vqhps: DVC plots</title>
    <!-- Vega, Vega-Lite and Vega-Embed (vl-convert-python {vlc_version} bundle), inlined: no network. -->
    <script type="text/javascript">
(function () {
__BUNDLE__
})();
    </script>
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


class OfflineTemplateError(RuntimeError):
    """A problem the user can fix (message names it); the CLI prints it on one line."""


def page_html() -> str:
    """The template's text: DVC's placeholders around the inlined Vega libraries (~0.9 MB)."""
    try:
        import vl_convert
    except ImportError as err:
        raise OfflineTemplateError(
            "vl-convert-python is not installed (it ships the Vega libraries): run `make install`"
        ) from err
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    if "</script" in bundle.lower():  # would end the <script> element early
        bundle = bundle.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    version = getattr(vl_convert, "__version__", "?")
    return _PAGE.replace("{vlc_version}", version).replace("__BUNDLE__", bundle)


def install(root: Path = Path(".")) -> Path:
    """Write the template under ``root`` and set ``plots.html_template`` in its ``.dvc/config.local``.

    Returns the template's path. The config holds it relative to ``.dvc/`` (how DVC resolves it), so the
    clone can move.
    """
    root = Path(root)
    if not (root / ".dvc").is_dir():
        raise OfflineTemplateError(
            f"{root.resolve()} is not a DVC project (no .dvc/): run this in the repository root"
        )
    path = root / TEMPLATE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page_html())
    rel = Path("..") / TEMPLATE
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", rel.as_posix()],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise OfflineTemplateError(f"`dvc config --local plots.html_template` failed in {root}: {last}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vqhps.infra.dvc_html", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = parser.parse_args(argv)
    try:
        path = install(args.root)
    except OfflineTemplateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}; `dvc plots show` / `dvc plots diff` now draw offline (.dvc/config.local)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
