"""requirements.lock, environment.yml and pyproject.toml describe the same environment."""

from __future__ import annotations

import re
import tomllib

import yaml


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name)] = version.split("+")[0]
    return pins


def test_environment_yml_pins_match_lock(repo):
    lock = _pins((repo / "requirements.lock").read_text().splitlines())
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = _pins(pip_section)
    assert env_pins.pop("torch") == "2.13.0", "torch must be pinned to 2.13.0 everywhere"
    mismatched = {n: (v, lock.get(n)) for n, v in env_pins.items() if lock.get(n) != v}
    assert not mismatched, f"environment.yml and requirements.lock disagree (env, lock): {mismatched}"


def test_every_declared_dependency_is_pinned_in_both(repo):
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.split(r"[<>=\[; ]", d)[0]) for d in project["dependencies"]}
    declared |= {_norm(re.split(r"[<>=\[; ]", d)[0]) for d in project["optional-dependencies"]["dev"]}
    lock = _pins((repo / "requirements.lock").read_text().splitlines())
    env = yaml.safe_load((repo / "environment.yml").read_text())
    env_pins = _pins(next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)))
    declared.discard("torch")  # installed first, pinned in the Makefile and environment.yml
    assert declared - set(lock) == set(), "declared but not in requirements.lock"
    assert declared - set(env_pins) == set(), "declared but not in environment.yml"


def test_lock_does_not_pin_torch(repo):
    lock = _pins((repo / "requirements.lock").read_text().splitlines())
    assert "torch" not in lock, "torch is installed first by the Makefile; a second pin would fight it"
