"""Config loading: interpolation, key-path errors, defaults, the validate CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from extproc.cli import main
from extproc.config import ConfigError, interpolate_env, load_config, parse_config
from extproc.config.model import ComplexityRule, RouterConfig


def test_defaults_work_without_a_file() -> None:
    config = load_config(None)
    assert config.routing.default_tier == "tier_low"
    assert set(config.tiers) == {"tier_low", "tier_high"}
    assert any(isinstance(r, ComplexityRule) for r in config.routing.rules)


def test_env_interpolation_with_and_without_default() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate_env("x=${A} y=${B:-two} z=${EMPTY:-d}", env) == "x=1 y=two z=d"
    with pytest.raises(ConfigError, match="MISSING is not set"):
        interpolate_env("${MISSING}", env)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "router.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_variable_in_a_comment_is_just_a_comment(tmp_path: Path) -> None:
    path = write(tmp_path, "# set ${UNSET_IN_COMMENT} to change the tier\n"
                           "routing:\n  default_tier: tier_high  # or ${ALSO_UNSET}\n")
    assert load_config(path, env={}).routing.default_tier == "tier_high"


def test_values_with_yaml_syntax_stay_one_string(tmp_path: Path) -> None:
    model = 'org/model: v2 # not a comment, "quoted" - [x]'
    path = write(tmp_path, "tiers:\n  tier_low:\n    cluster: tier_low\n"
                           "    model: ${LOW_MODEL}\n  tier_high: {cluster: tier_high}\n")
    config = load_config(path, env={"LOW_MODEL": model})
    assert config.tiers["tier_low"].model == model


def test_numbers_and_booleans_from_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  max_message_bytes: ${MAXB}\n"
                           "routing:\n  rewrite_model: ${REWRITE:-false}\n"
                           "  decision_budget_ms: ${BUDGET}\n")
    config = load_config(path, env={"MAXB": "20000000", "BUDGET": "12.5"})
    assert config.server.max_message_bytes == 20_000_000
    assert config.routing.rewrite_model is False
    assert config.routing.decision_budget_ms == 12.5


def test_a_missing_variable_names_its_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, "routing:\n  rules:\n    - type: learned\n      model: ${MODEL_PATH}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert "routing.rules.0.model: environment variable MODEL_PATH is not set" in str(info.value)


def test_keys_are_not_interpolated(tmp_path: Path) -> None:
    path = write(tmp_path, "routing:\n  ${KEY}: tier_high\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"KEY": "default_tier"})
    assert "${KEY}" in str(info.value)


def test_unknown_key_error_names_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"routing": {"rules": [{"type": "complexity", "treshold": 0.5}]}})
    assert "routing.rules.0.complexity.treshold" in str(info.value)


def test_bad_value_error_names_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"request": {"on_bad_request": "explode"}})
    assert "request.on_bad_request" in str(info.value)


def test_unknown_tier_reference_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"routing.default_tier: unknown tier 'gold'"):
        parse_config({"routing": {"default_tier": "gold"}})
    with pytest.raises(ConfigError, match=r"routing.rules.0.above"):
        parse_config({"routing": {"rules": [{"type": "complexity", "above": "gold"}]}})


def test_message_size_must_exceed_body_limit() -> None:
    with pytest.raises(ConfigError, match="max_message_bytes"):
        parse_config(
            {"server": {"max_message_bytes": 1048576}, "request": {"max_body_bytes": 1048576}}
        )


def test_bad_header_name_and_listen_address() -> None:
    with pytest.raises(ConfigError, match=r"routing\.header"):
        parse_config({"routing": {"header": "bad header"}})
    with pytest.raises(ConfigError, match="server"):
        parse_config({"server": {"listen": "nohostport"}})


def test_yaml_file_with_env(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("routing:\n  default_tier: ${TIER:-tier_high}\n")
    assert load_config(path, {}).routing.default_tier == "tier_high"
    assert load_config(path, {"TIER": "tier_low"}).routing.default_tier == "tier_low"


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("routing: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "absent.yaml")


def test_validate_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("routing:\n  rewrite_model: true\n")
    assert main(["validate", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers:\n  tier_low:\n    clustr: x\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(bad)])
    assert exit_info.value.code == 2
    assert "tiers.tier_low.clustr" in capsys.readouterr().err


def test_validate_cli_rejects_unimportable_custom_rule(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "routing:\n  rules:\n  - type: custom\n    name: mine\n    import_path: nowhere.mod:Rule\n"
    )
    assert main(["validate", str(path)]) == 2


def test_shipped_example_configs_validate() -> None:
    for path in sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml")):
        assert isinstance(load_config(path, {}), RouterConfig), path


def test_json_schema_has_descriptions() -> None:
    schema = RouterConfig.model_json_schema()
    assert "RoutingConfig" in schema["$defs"]
    assert schema["$defs"]["RoutingConfig"]["properties"]["header"]["description"]


def test_config_reference_doc_is_up_to_date() -> None:
    from extproc.config.reference import render_reference

    doc = Path(__file__).parents[2] / "docs" / "config-reference.md"
    assert doc.read_text(encoding="utf-8") == render_reference(), (
        "docs/config-reference.md is stale: run `extproc-router config-reference > "
        "docs/config-reference.md`"
    )


def test_fast_mode_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from extproc.config.warnings import config_warnings

    assert config_warnings(parse_config({"mode": "fast"})) == []
    assert config_warnings(parse_config({"cache": {"enabled": True}})) == []  # full mode
    warned = config_warnings(parse_config({
        "mode": "fast", "cache": {"enabled": True}, "observe": {"response_body": "all"},
        "routing": {"rules": [{"type": "ab", "key_header": "x-user-id", "arms": {
            "a": {"tier": "tier_low", "weight": 1}, "b": {"tier": "tier_high", "weight": 1}}}]},
    }))
    assert len(warned) == 3 and any("cache" in w for w in warned)
    path = tmp_path / "fast.yaml"
    path.write_text("mode: fast\ncache: {enabled: true}\n")
    assert main(["validate", str(path)]) == 0
    assert "warning: cache" in capsys.readouterr().out


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"extproc-router {version('extproc-router')}"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"servr": {}}, "servr: Extra inputs are not permitted (did you mean 'server'?)"),
        ({"routing": {"defualt_tier": "tier_low"}}, "(did you mean 'default_tier'?)"),
        ({"routing": {"rules": [{"type": "complexity", "treshold": 0.5}]}},
         "routing.rules.0.complexity.treshold: Extra inputs are not permitted "
         "(did you mean 'threshold'?)"),
        ({"routing": {"rules": [{"type": "learned", "model": "m.npz", "abov": "tier_high"}]}},
         "(did you mean 'above'?)"),
        ({"tiers": {"gold": {"cluster": "gold", "sla_msec": 5}}}, "(did you mean 'sla_ms'?)"),
    ],
)
def test_a_mistyped_key_gets_the_closest_known_one(data: dict[str, object],
                                                    expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert expected in str(info.value)


def test_no_suggestion_when_nothing_is_close() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"routing": {"zzzzzz": 1}})
    assert "Extra inputs are not permitted" in str(info.value)
    assert "did you mean" not in str(info.value)
