"""load_rules: a directory of YAML in, a RuleSet out, or every problem at its file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.core.errors import RuleSetError
from stream_guard.core.models import load_models
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.pack import RuleSet

BUNDLED = Path(__file__).resolve().parents[3] / "rules"
MODELS = load_models(BUNDLED.parent / "models")


@pytest.fixture
def errors_of(write_pack, monkeypatch):
    """Load a pack written from text; return its errors rendered (paths relative to the pack)."""

    def run(files, policy=None) -> list[str]:
        root = write_pack(files, policy)
        monkeypatch.chdir(root)
        with pytest.raises(RuleSetError) as info:
            load_rules(root)
        return [e.render() for e in info.value.errors]

    return run


def rule(rid: str, body: str = "on: login", *, severity: str = "low") -> str:
    """One rule entry (indented for ``rules:``); ``body`` lines are rule keys."""
    lines = [f"  - id: {rid}", f"    title: {rid}", f"    severity: {severity}"]
    lines += [f"    {line}" for line in body.strip("\n").split("\n")]
    return "\n".join(lines) + "\n"


# -- a valid pack ------------------------------------------------------------------------

VALID = {
    "lists.yaml": """\
        lists:
          bad_ips: [45.155.205.17]
          blocked:
            files: [lists/blocked.txt]
            match: address
        macros:
          failed_login: "event.action == 'login' and not event.success"
    """,
    "lists/blocked.txt": "# comment\n0xAbC0000000000000000000000000000000000001\n\nbc1qblocked\n",
    "rules.yaml": """\
        rules:
          - id: bad_ip_login
            title: Login from a bad IP
            severity: high
            on: login
            when: in_list(event.ip, 'bad_ips')
            risk: 40
            suppress: 1h
            actions:
              - freeze: {scope: login, duration: 24h}
          - id: brute_force
            title: Brute force
            severity: medium
            on: login
            when: failed_login
            aggregate: {function: count, window: 10m, threshold: 5}
          - id: stuffing
            title: Stuffing
            severity: high
            on: login
            when: failed_login
            aggregate: {function: count_distinct, field: user_id, by: ip, window: 10m, threshold: 3}
            suppress: none
          - id: in_out
            title: In and out
            severity: high
            sequence:
              within: 6h
              steps:
                - {name: deposit, on: transfer, when: "event.direction == 'deposit'"}
                - name: withdrawal
                  on: transfer
                  when: event.value_krw >= steps.deposit.value_krw
    """,
}

POLICY = """\
    half_life: 24h
    levels:
      - {id: risk_high, at: 80, severity: high, actions: [{alert: {template: risk}}]}
"""


def test_valid_pack_loads(load_pack):
    rs = load_pack(VALID, POLICY)
    assert isinstance(rs, RuleSet)
    assert [r.id for r in rs.rules] == ["bad_ip_login", "brute_force", "stuffing", "in_out"]
    assert [r.kind for r in rs.rules] == ["condition", "aggregate", "aggregate", "sequence"]
    assert rs.policy.half_life == 86400.0
    assert [lv.id for lv in rs.policy.levels] == ["risk_high"]
    assert set(rs.lists) == {"bad_ips", "blocked"}
    assert rs.group_keys == ("ip",)


def test_valid_pack_compiles_durations_and_suppression(load_pack):
    rs = load_pack(VALID)
    assert rs.rule("bad_ip_login").suppress == 3600.0
    assert rs.rule("bad_ip_login").actions == ({"kind": "freeze", "scope": "login", "duration": 86400.0, "manual": False},)
    assert rs.rule("brute_force").suppress == 600.0  # one window by default
    assert rs.rule("brute_force").group_by is None
    assert rs.rule("stuffing").suppress is None
    assert rs.rule("stuffing").group_by == "ip"
    seq = rs.rule("in_out")
    assert seq.sequence.within == 6 * 3600.0
    assert seq.on == frozenset({"transfer"})
    assert [s.captures for s in seq.steps] == [("value_krw",), ()]


def test_list_files_are_read_without_comments_or_blank_lines(load_pack):
    blocked = load_pack(VALID).lists["blocked"]
    assert len(blocked) == 2
    assert "0xabc0000000000000000000000000000000000001" in blocked
    assert "bc1qblocked" in blocked and "BC1QBLOCKED" not in blocked


def test_same_text_gives_the_same_checksum(load_pack):
    assert load_pack(VALID).checksum == load_pack(VALID).checksum


def test_yaml_words_on_and_off_stay_strings(load_pack):
    rs = load_pack("rules:\n" + rule("quiet", "mode: off\non: login\nwhen: event.success"))
    r = rs.rule("quiet")
    assert r.mode == "off"
    assert r.on == frozenset({"login"})


# -- one error each, at its exact place --------------------------------------------------


def test_bad_yaml(errors_of):
    assert errors_of("rules:\n  - id: x\n    title: a: b\n") == [
        "rules.yaml:3:13: not valid YAML: mapping values are not allowed in this context [bad-yaml]"
    ]


def test_duplicate_yaml_key(errors_of):
    text = "rules:\n" + rule("dup", "on: login\non: transfer")
    assert errors_of(text) == [
        "rules.yaml:6:5: duplicate key 'on' (the first one would be silently lost) [duplicate-key]"
    ]


def test_unknown_key_is_reported_with_its_line(errors_of):
    text = "rules:\n" + rule("typo", "sevrity: high\non: login")
    errs = errors_of(text)
    assert any(e.startswith("rules.yaml:5:") and "unknown key 'sevrity'" in e and "rule 'typo'" in e for e in errs), errs


def test_unknown_key_points_at_the_key(errors_of):
    text = "rules:\n  - id: typo\n    title: t\n    sevrity: high\n    severity: low\n    on: login\n"
    assert errors_of(text) == [
        "rules.yaml:4:5: rule 'typo': unknown key 'sevrity' (check the spelling against docs/rules.md) [bad-rule]"
    ]


def test_missing_on(errors_of):
    assert errors_of("rules:\n" + rule("no_on", "when: event.success")) == [
        "rules.yaml:2:5: rule 'no_on': 'on' is required: login or transfer [bad-rule]"
    ]


def test_unknown_feature_with_did_you_mean(errors_of):
    text = "rules:\n" + rule("feat", "on: login\nwhen: event.success and features.new_devce")
    assert errors_of(text) == [
        "rules.yaml:6:29: rule 'feat': unknown feature 'new_devce'; did you mean 'new_device'? [unknown-feature]"
    ]


def test_unknown_feature_in_a_quoted_condition(errors_of):
    text = "rules:\n" + rule("feat", "on: login\nwhen: \"event.success and features.new_devce\"")
    assert errors_of(text)[0].startswith("rules.yaml:6:30: rule 'feat': unknown feature 'new_devce'")


def test_unknown_feature_in_a_folded_condition(errors_of):
    text = "rules:\n" + rule("feat", "on: login\nwhen: >-\n  event.success\n  and features.new_devce")
    assert errors_of(text)[0].startswith("rules.yaml:8:11: rule 'feat': unknown feature 'new_devce'")


def test_unknown_feature_in_a_literal_block_condition(errors_of):
    text = "rules:\n" + rule("feat", "on: login\nwhen: |\n  event.success\n  and features.new_devce")
    assert errors_of(text)[0].startswith("rules.yaml:8:11: rule 'feat': unknown feature 'new_devce'")


def test_duplicate_rule_id_across_files(errors_of):
    errs = errors_of({"a.yaml": "rules:\n" + rule("same"), "b.yaml": "rules:\n" + rule("other") + rule("same")})
    assert errs == ["b.yaml:6:9: rule 'same': rule id 'same' is already used at a.yaml:2:5 [duplicate-rule-id]"]


def test_duplicate_list_name_across_files(errors_of):
    errs = errors_of({"a.yaml": "lists:\n  ips: [1.1.1.1]\n", "b.yaml": "lists:\n  other: [x]\n  ips: [2.2.2.2]\n"})
    assert errs == ["b.yaml:3:3: list 'ips' is defined twice (first in a.yaml:2:3) [duplicate-list]"]


def test_missing_list_file(errors_of):
    errs = errors_of("lists:\n  blocked:\n    files: [lists/nothere.txt]\n")
    assert len(errs) == 1
    assert errs[0].startswith("rules.yaml:2:3: list file 'lists/nothere.txt' matches no file under ")
    assert errs[0].endswith("[missing-list-file]")


def test_list_file_outside_the_pack(errors_of):
    errs = errors_of("lists:\n  blocked:\n    files: [../secrets.txt]\n")
    assert errs == ["rules.yaml:2:3: list file '../secrets.txt' must be a path inside the rules directory [bad-list-file]"]


def test_freeze_with_neither_duration_nor_manual(errors_of):
    text = "rules:\n" + rule("frz", "on: login\nactions:\n  - freeze: {scope: all}")
    assert errors_of(text) == [
        "rules.yaml:7:17: rule 'frz': actions.0.freeze: a freeze needs either 'duration' (e.g. 24h) or 'manual: true' [bad-rule]"
    ]


def test_freeze_with_both_duration_and_manual(errors_of):
    text = "rules:\n" + rule("frz", "on: login\nactions:\n  - freeze: {duration: 1h, manual: true}")
    assert "a freeze needs either 'duration'" in errors_of(text)[0]


def test_count_with_a_field(errors_of):
    text = "rules:\n" + rule("cnt", "on: login\naggregate: {function: count, field: ip, window: 10m, threshold: 3}")
    assert errors_of(text) == [
        "rules.yaml:6:16: rule 'cnt': aggregate: 'count' takes no 'field' (use count_distinct to count values) [bad-rule]"
    ]


def test_sequence_with_an_absent_first_step(errors_of):
    text = "rules:\n" + rule("seq", """\
sequence:
  within: 1h
  steps:
    - {name: a, on: login, absent: true}
    - {name: b, on: login}
    - {name: c, on: transfer}""")
    assert errors_of(text) == [
        "rules.yaml:6:7: rule 'seq': sequence: an 'absent' step must sit between two steps that happen [bad-rule]"
    ]


def test_sequence_by_ip_cannot_refer_to_earlier_steps(errors_of):
    text = "rules:\n" + rule("seq", """\
sequence:
  by: ip
  within: 1h
  steps:
    - {name: a, on: login, when: event.success}
    - name: b
      on: login
      when: event.device_id == steps.a.device_id""")
    assert errors_of(text) == [
        "rules.yaml:12:17: rule 'seq': a sequence by 'ip' cannot refer to earlier steps (steps.*): only sequences by user_id can [bad-rule]"
    ]


# -- every error at once -----------------------------------------------------------------


def test_all_schema_errors_of_a_file_are_reported(errors_of):
    text = "rules:\n" + rule("one", "on: login\nsevrity: high") + rule("two", "when: event.success") + rule(
        "three", "on: login\naggregate: {function: sum, window: 10m, threshold: 3}"
    )
    errs = errors_of(text)
    assert len(errs) == 3, errs
    assert [e.split(":")[1] for e in errs] == ["6", "7", "15"]
    assert "unknown key 'sevrity'" in errs[0]
    assert "'on' is required" in errs[1]
    assert "'sum' needs a 'field'" in errs[2]


def test_all_compile_errors_of_a_pack_are_reported(errors_of):
    a = "rules:\n" + rule("one", "on: login\nwhen: features.new_devce") + rule("two", "on: login\nwhen: event.sucess")
    b = "rules:\n" + rule("three", "on: transfer\nwhen: in_list(event.address, 'nolist')")
    errs = errors_of({"a.yaml": a, "b.yaml": b})
    assert [e.rsplit("[", 1)[1] for e in errs] == ["unknown-feature]", "unknown-field]", "unknown-list]"]
    assert [e.split(":", 1)[0] for e in errs] == ["a.yaml", "a.yaml", "b.yaml"]


def test_schema_and_compile_errors_of_one_file_are_reported_together(errors_of):
    text = "rules:\n" + rule("one", "on: login\nsevrity: high") + rule("two", "on: login\nwhen: features.new_devce")
    errs = errors_of(text)
    assert any("unknown key 'sevrity'" in e for e in errs)
    assert any("unknown feature 'new_devce'" in e for e in errs)


def test_one_bad_list_does_not_hide_the_good_ones(errors_of):
    lists = "lists:\n  good: [a, b]\n  bad:\n    values: [x]\n    match: upper\n"
    rules = "rules:\n" + rule("uses_good", "on: login\nwhen: in_list(event.city, 'good')")
    errs = errors_of({"lists.yaml": lists, "rules.yaml": rules})
    assert len(errs) == 1 and errs[0].startswith("lists.yaml:5:12:"), errs


# -- the bundled pack --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled() -> RuleSet:
    return load_rules(BUNDLED, scores=MODELS.names)


def test_bundled_pack_loads(bundled):
    assert len(bundled.rules) >= 10
    assert {r.id for r in bundled.rules} >= {"brute_force_account", "account_takeover", "sanctioned_address"}
    assert [lv.id for lv in bundled.policy.levels] == ["risk_elevated", "risk_critical"]
    assert bundled.rule("credential_stuffing_ip").group_by == "ip"


@pytest.mark.parametrize(
    "address",
    [
        "0x01e2919679362dFBC9ee1644Ba9C6da6D6245BB1",  # as listed (checksum case)
        "0x01e2919679362dfbc9ee1644ba9c6da6d6245bb1",
        "0X01E2919679362DFBC9EE1644BA9C6DA6D6245BB1",
    ],
)
def test_bundled_ofac_list_matches_evm_addresses_in_any_case(bundled, address):
    assert address in bundled.lists["ofac_sdn_crypto"]


def test_bundled_ofac_list_keeps_case_for_non_evm_addresses(bundled):
    ofac = bundled.lists["ofac_sdn_crypto"]
    assert "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX" in ofac
    assert "123wbudmsjv4gctdvez6qq6z8nxskrj4kx" not in ofac
    assert "0x0000000000000000000000000000000000000000" not in ofac


def test_no_rules_directory(tmp_path):
    with pytest.raises(RuleSetError) as info:
        load_rules(tmp_path / "missing")
    assert info.value.code == "no-rules"


def test_policy_levels_must_increase(errors_of):
    policy = """\
        levels:
          - {id: high, at: 150, severity: critical, actions: [{alert: {template: r}}]}
          - {id: low, at: 80, severity: high, actions: [{alert: {template: r}}]}
    """
    errs = errors_of("rules: []\n", policy)
    assert errs == ["policy.yaml:1:1: risk levels must have distinct 'at' values in increasing order [bad-rule]"]
