"""The backtest as one self-contained HTML file, drawn from the backtest's JSON.

One file with its CSS, its few lines of script and its charts (inline SVG, see
``svg.py``) inside: it opens offline, can be mailed or attached to a review, and fetches
nothing — its Content-Security-Policy forbids any request, so a value that slipped
through escaping could not load anything either. The script only sorts tables and
toggles rules in the per-day chart; the charts are drawn without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream_guard.backtest import svg
from stream_guard.backtest.svg import OTHER, PALETTE, esc

#: Rules drawn in their own colour in the per-day chart; the rest are "other rules".
SERIES = 9
SEVERITY_COLOURS = {"critical": "#67001f", "high": "#d6604d", "medium": "#f4a582", "low": "#92c5de"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header,section,footer{max-width:1180px;margin:0 auto;padding:8px 24px}
header{padding-top:20px}h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#666}code{font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:20px}nav a{margin-right:12px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e2e2e2;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure.chart{margin:8px 0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px;overflow-x:auto}
figure.chart svg{display:block;max-width:100%;height:auto}
figure.spark{margin:0;padding:0;border:0;background:none}
.legend button{border:1px solid #ccc;background:#fff;border-radius:4px;margin:2px;padding:1px 7px;cursor:pointer;font-size:12px}
.legend button.off{opacity:.35}.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px}
.mode-shadow{color:#7a5c00}.gain{color:#1b7837}.loss{color:#b2182b}
details{margin:4px 0}summary{cursor:pointer}
"""

_JS = """
(function(){
  document.querySelectorAll('table.sortable th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var table = th.closest('table'), body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.v || a.cells[col].textContent, y = b.cells[col].dataset.v || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (!isNaN(nx) && !isNaN(ny)) return (nx - ny) * dir;
        return x.localeCompare(y) * dir;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
  document.querySelectorAll('.legend button').forEach(function(b){
    b.addEventListener('click', function(){
      var off = b.classList.toggle('off');
      document.querySelectorAll('#per-day rect[data-series]').forEach(function(r){
        if (r.getAttribute('data-series') === b.dataset.series) r.style.display = off ? 'none' : '';
      });
    });
  });
})();
"""


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else esc(v)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def _td(v: Any, sort: Any = None) -> str:
    """A numeric cell, sorted by ``sort`` (default: the value)."""
    key = v if sort is None else sort
    return f'<td class="n" data-v="{esc(key if key is not None else -1)}">{_n(v) if v is not None else "–"}</td>'


def _figure(name: str, svg_text: str, caption: str = "") -> str:
    cap = f"<figcaption class=muted>{caption}</figcaption>" if caption else ""
    return f'<figure class="chart" data-chart="{esc(name)}">{svg_text}{cap}</figure>'


def colours(rules: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """A colour per rule that fired, by rank of decisions; the rest share :data:`OTHER`."""
    ranked = sorted((r for r in rules if rules[r]["decisions"]), key=lambda r: (-rules[r]["decisions"], r))
    return {r: (PALETTE[i] if i < SERIES else OTHER) for i, r in enumerate(ranked)}


def drawn_days(doc: Mapping[str, Any]) -> list[str]:
    """The days the per-day charts show: from the first day with a decision to the end of
    the period (the leading days of history nothing fired on say nothing)."""
    days = doc["period"]["days"]
    fired = [i for i, d in enumerate(days) if any(r["per_day"].get(d) for r in doc["rules"].values())]
    return days[fired[0]:] if fired else days


def render_report(doc: Mapping[str, Any]) -> str:
    """The HTML report of a backtest's JSON (:func:`stream_guard.backtest.backtest_json`)."""
    parts = [_head(doc), _summary(doc), _rules_table(doc), _per_day(doc), _severity(doc),
             _top_users(doc), _overlap(doc), _sensitivity(doc)]
    if "labels" in doc:
        parts.append(_labels(doc))
    if "diff" in doc:
        parts.append(_diff(doc))
    parts += [_examples(doc), _input(doc), _foot(doc)]
    return "".join(parts)


def _head(doc: Mapping[str, Any]) -> str:
    title = f"Backtest of {doc['rules_dir'] or 'rules'} on {doc['source']}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title>"
        "<script>window.sgErrors=[];window.addEventListener('error',function(e){window.sgErrors.push(String(e.message))});</script>"
        f"<style>{_CSS}</style></head><body><header><h1>{esc(title)}</h1>"
    )


def _summary(doc: Mapping[str, Any]) -> str:
    rep, period, dec = doc["replay"], doc["period"], doc["decisions"]
    fired = [r for r, v in doc["rules"].items() if v["decisions"]]
    cards = [
        ("events", f"{rep['events']:,}"),
        ("days", f"{len(period['days']):,}"),
        ("decisions", f"{dec['total']:,}"),
        *((f"{m}", f"{n:,}") for m, n in dec["by_mode"].items()),
        ("rules fired", f"{len(fired)} of {len(doc['rules'])}"),
        ("users named", f"{dec['users']:,}"),
    ]
    if "labels" in doc:
        lab = doc["labels"]
        cards += [("attacks caught", f"{lab['caught']} of {lab['attacks']}"),
                  ("benign users flagged", f"{lab['benign_flagged_share']:.1%}")]
    if "diff" in doc:
        t = doc["diff"]["totals"]
        cards += [("gained", f"+{t['gained']:,}"), ("lost", f"-{t['lost']:,}")]
    sections = [("rules", "Rules"), ("per-day", "Per day"), ("severity", "Severity"), ("top-users", "Top users"),
                ("overlap", "Overlap"), ("sensitivity", "Thresholds")]
    if "labels" in doc:
        sections.append(("labels", "Labels"))
    if "diff" in doc:
        sections.append(("diff", "Diff"))
    sections += [("examples", "Examples"), ("input", "Input")]
    return (
        f"<p class=muted>{esc(period['first_ts'])} … {esc(period['last_ts'])} (days at UTC{esc(period['utc_offset'])}) · "
        f"rules version <code>{esc(doc['rules_version'])}</code> · {rep['lines']:,} lines, {rep['invalid']:,} invalid, "
        f"{rep['late']:,} late, {rep['duplicates']:,} duplicate · {rep['seconds']:.1f} s</p>"
        "<div class=cards>"
        + "".join(f"<div class=card><b>{esc(v)}</b>{esc(k)}</div>" for k, v in cards)
        + "</div><nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in sections) + "</nav></header>"
    )


def _rules_table(doc: Mapping[str, Any]) -> str:
    rules = doc["rules"]
    days = drawn_days(doc)
    colour = colours(rules)
    head = ["rule", "mode", "severity", "decisions", "users", "per day", "max/day", "unique",
            "overlaps most with", f"per day ({len(days)} days)"]
    rows = []
    for rid, r in _ranked(rules):
        top = next(((o, v) for o, v in r["overlap"].items() if v["decisions"]), None)
        overlap = f"{esc(top[0])} ({top[1]['decisions']:,})" if top else ""
        spark = svg.sparkline([r["per_day"].get(d, 0) for d in days], colour=colour.get(rid, OTHER))
        cells = [
            f'<td data-v="{esc(rid)}"><a href="#ex-{esc(rid)}"><code>{esc(rid)}</code></a><br>{esc(r["title"])}'
            f'<br><span class=muted>{esc(r["kind"])}</span></td>',
            f'<td class="mode-{esc(r["mode"])}">{esc(r["mode"])}</td>', f"<td>{esc(r['severity'])}</td>",
            _td(r["decisions"]), _td(r["users"]), _td(f"{r['per_day_mean']:.2f}", r["per_day_mean"]),
            _td(r["per_day_max"]), _td(r["unique_decisions"]), f"<td>{overlap}</td>",
            f'<td><figure class="chart spark" data-chart="spark-{esc(rid)}">{spark}</figure></td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<section id="rules"><h2>Rules</h2><p class=muted>Every rule the detector evaluated and every risk level. '
        "<i>unique</i>: decisions with no decision of another rule on the same user within two hours. "
        "Click a column to sort.</p>"
        '<table class="sortable"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
        + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _ranked(rules: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    return sorted(rules.items(), key=lambda kv: (-kv[1]["decisions"], kv[0]))


def _per_day(doc: Mapping[str, Any]) -> str:
    rules, days = doc["rules"], drawn_days(doc)
    colour = colours(rules)
    own = [r for r, c in colour.items() if c != OTHER]
    rest = [r for r, c in colour.items() if c == OTHER]
    series = [(r, colour[r], [rules[r]["per_day"].get(d, 0) for d in days]) for r in own]
    if rest:
        series.append(("other rules", OTHER, [sum(rules[r]["per_day"].get(d, 0) for r in rest) for d in days]))
    skipped = len(doc["period"]["days"]) - len(days)
    note = f" The {skipped} earlier days of the history had no decision and are not drawn." if skipped else ""
    legend = "".join(
        f'<button data-series="{esc(name)}"><span class=swatch style="background:{c}"></span>{esc(name)}</button>'
        for name, c, _ in series
    )
    return (
        f'<section id="per-day"><h2>Decisions per day per rule</h2><p class=muted>Stacked by rule; click a rule to hide it.{note}</p>'
        + _figure("per-day", svg.columns(days, series, label="decisions per day per rule"))
        + f'<div class="legend">{legend}</div></section>'
    )


def _severity(doc: Mapping[str, Any]) -> str:
    rows = []
    for sev, modes in doc["severity"].items():
        c = SEVERITY_COLOURS.get(sev, OTHER)
        parts = [(modes.get("enforce", 0), c, f"{sev}, enforced: {modes.get('enforce', 0):,}"),
                 (modes.get("shadow", 0), c + "66", f"{sev}, shadow: {modes.get('shadow', 0):,}")]
        rows.append((sev, parts))
    body = _figure("severity", svg.hbars(rows, label="decisions by severity"), "solid: enforced · pale: shadow") if rows else "<p>No decisions.</p>"
    return f'<section id="severity"><h2>Severity mix</h2>{body}</section>'


def _top_users(doc: Mapping[str, Any]) -> str:
    colour = colours(doc["rules"])
    rows = [
        (u["user_id"], [(n, colour.get(r, OTHER), f"{u['user_id']} · {r}: {n:,}") for r, n in u["rules"].items()])
        for u in doc["top_users"]
    ]
    body = _figure("top-users", svg.hbars(rows, label="top users"), "the users named by the most decisions, by rule") if rows else "<p>No decisions.</p>"
    return f'<section id="top-users"><h2>Top users</h2>{body}</section>'


def _overlap(doc: Mapping[str, Any]) -> str:
    rules = doc["rules"]
    fired = sorted((r for r in rules if rules[r]["decisions"]), key=lambda r: (-rules[r]["decisions"], r))[:24]
    if len(fired) < 2:
        return '<section id="overlap"><h2>Overlap</h2><p>Fewer than two rules fired.</p></section>'
    counts = [[rules[a]["overlap"].get(b, {}).get("decisions", 0) for b in fired] for a in fired]
    share = [[c / rules[a]["decisions"] for c in row] for a, row in zip(fired, counts, strict=True)]
    return (
        '<section id="overlap"><h2>Overlap between rules</h2><p class=muted>Row rule’s decisions that have a decision of the '
        "column rule on the same user within two hours, in per cent of the row rule’s decisions.</p>"
        + _figure("overlap", svg.heatmap(fired, share, counts, label="overlap between rules")) + "</section>"
    )


def _sensitivity(doc: Mapping[str, Any]) -> str:
    items = [(rid, r["sensitivity"]) for rid, r in doc["rules"].items() if "sensitivity" in r]
    if not items:
        return '<section id="sensitivity"><h2>Threshold sensitivity</h2><p>No aggregate rule.</p></section>'
    out = ['<section id="sensitivity"><h2>Threshold sensitivity of aggregate rules</h2><p class=muted>'
           "Decisions each aggregate rule would have made at nearby thresholds (×0.5 … ×2), from the window "
           "values of every evaluation in this run, with the rule’s suppression; the dashed column is the "
           "rule’s threshold.</p>"]
    for rid, s in items:
        cats = [svg.short(p["threshold"]) for p in s["points"]]
        current = next((i for i, p in enumerate(s["points"]) if p["threshold"] == s["threshold"]), None)
        chart = svg.columns(cats, [("decisions", PALETTE[0], [p["decisions"] for p in s["points"]])],
                            width=560, height=200, highlight=current, label=f"threshold sensitivity of {rid}")
        field = f"({'|'.join(s['fields'])})" if s["fields"] else ""
        out.append(
            f"<h3><code>{esc(rid)}</code> — {esc(s['function'])}{esc(field)} ≥ {svg.short(s['threshold'])} in {esc(s['window'])} by {esc(s['by'])}</h3>"
            + _figure(f"sensitivity-{rid}", chart,
                      f"{s['actual']:,} decisions at {svg.short(s['threshold'])} in this run; highest window value seen: {svg.short(s['max_value'])}")
        )
    return "".join(out) + "</section>"


def _labels(doc: Mapping[str, Any]) -> str:
    lab = doc["labels"]
    rows = [(kind, [(lab["recall_by_kind"][kind], PALETTE[4], f"{kind}: {lab['caught_by_kind'].get(kind, 0)} of {n}")])
            for kind, n in lab["attacks_by_kind"].items()]
    chart = _figure("recall", svg.hbars(rows, top=1.0, percent=True, label="recall per attack kind")) if rows else ""
    missed = "".join(
        f"<tr><td>{esc(a['kind'])}</td><td>{esc(a.get('user_id') or 'ip ' + str(a.get('ip')))}</td>"
        f"<td>{esc(a['key_ts'])}</td><td><code>{esc(a.get('key_event_id') or '')}</code></td>"
        f"<td>{esc(', '.join(a.get('caught_by_shadow', [])))}</td></tr>"
        for a in lab["missed"]
    )
    missed_html = (
        "<table><thead><tr><th>kind</th><th>user</th><th>key_ts</th><th>key event</th><th>caught in shadow by</th></tr></thead>"
        f"<tbody>{missed}</tbody></table>" if missed else "<p>Every labelled attack was caught.</p>"
    )
    per_rule = "".join(
        f"<tr><td><code>{esc(rid)}</code></td><td class=\"mode-{esc(r['mode'])}\">{esc(r['mode'])}</td>"
        + _td(r["decisions"]) + _td(lab_r.get("attacks_caught", 0))
        + f"<td>{esc(', '.join(f'{k} {n}' for k, n in lab_r.get('caught_by_kind', {}).items()))}</td>"
        + _td(lab_r.get("hits", 0)) + _td(lab_r.get("false_alarms", 0)) + _td(lab_r.get("other", 0))
        + _td(_pct(lab_r.get("precision")), lab_r.get("precision")) + _td(lab_r.get("benign_users_flagged", 0))
        + "</tr>"
        for rid, r in _ranked(doc["rules"]) if r["decisions"] for lab_r in [r.get("labels", {})]
    )
    per_rule_html = (
        "<h3>Rules against the labels</h3><p class=muted>Each rule's decisions counted as if it were enforced. "
        "<i>hit</i>: names an attacked user, a victim or the attack's IP within two hours of the attack; "
        "<i>false alarm</i>: names a benign user otherwise; <i>precision</i> = hits / (hits + false alarms); "
        "<i>benign flagged</i>: benign users the rule alone flags, as EVENTS.md counts them.</p>"
        '<table class="sortable"><thead><tr>' + "".join(f"<th>{h}</th>" for h in (
            "rule", "mode", "decisions", "attacks caught", "by kind", "hits", "false alarms", "other",
            "precision", "benign flagged")) + f"</tr></thead><tbody>{per_rule}</tbody></table>"
    )
    return (
        f'<section id="labels"><h2>Labelled attacks</h2><p>{lab["caught"]} of {lab["attacks"]} attacks caught '
        f"({lab['recall']:.0%}) by enforced decisions; {len(lab['benign_flagged']):,} of {lab['benign_users']:,} benign users "
        f"flagged ({lab['benign_flagged_share']:.1%}), scored as EVENTS.md defines.</p>{chart}"
        f"{per_rule_html}<h3>Missed by every rule ({len(lab['missed'])})</h3>{missed_html}</section>"
    )


def _example_rows(examples: list[dict[str, Any]], sign: str = "") -> str:
    return "".join(
        f"<tr><td>{sign}</td><td><code>{esc(e['event_id'])}</code></td><td>{esc(e['user_id'])}</td>"
        f"<td>{esc(e['ts'])}</td><td>{esc(e['reason'])}"
        + (f" <span class=muted>({esc(e['change'])})</span>" if "change" in e else "")
        + "</td></tr>"
        for e in examples
    )


_EXAMPLE_HEAD = "<table><thead><tr><th></th><th>event</th><th>user</th><th>ts</th><th>reason</th></tr></thead><tbody>"


def _diff(doc: Mapping[str, Any]) -> str:
    d = doc["diff"]
    t, base, defs = d["totals"], d["baseline"], d["definitions"]
    changed = {rid: r for rid, r in d["rules"].items() if r["gained"] or r["lost"] or r["changed"]}
    notes = []
    for key, label in (("rules_added", "added"), ("rules_removed", "removed")):
        if defs[key]:
            notes.append(f"<li>rules {label}: {esc(', '.join(defs[key]))}</li>")
    notes += [f"<li>rule <code>{esc(rid)}</code> changed: {esc(', '.join(keys))}</li>" for rid, keys in defs["rules_changed"].items()]
    for key in ("levels_changed", "lists_changed", "macros_changed"):
        if defs[key]:
            notes.append(f"<li>{esc(key.replace('_', ' '))}: {esc(', '.join(defs[key]))}</li>")
    out = [
        f'<section id="diff"><h2>Against the baseline</h2><p>Baseline <code>{esc(base["rules_dir"])}</code> '
        f"(rules version <code>{esc(base['rules_version'])}</code>): {t['baseline']:,} → {t['candidate']:,} decisions, "
        f"<span class=gain>+{t['gained']:,} gained</span>, <span class=loss>-{t['lost']:,} lost</span>, {t['changed']:,} changed.</p>"
        f"<ul>{''.join(notes)}</ul>"
    ]
    if changed:
        rows = [(rid, r["lost"], r["gained"]) for rid, r in changed.items()]
        out.append(_figure("diff", svg.diverging(rows, label="decisions gained and lost per rule"), "red: lost · green: gained"))
        for rid, r in changed.items():
            ex = r["examples"]
            out.append(
                f"<h3><code>{esc(rid)}</code>: {r['baseline']:,} → {r['candidate']:,} "
                f"(<span class=gain>+{r['gained']:,}</span> on {r['gained_users']:,} users, "
                f"<span class=loss>−{r['lost']:,}</span> on {r['lost_users']:,} users, {r['changed']:,} changed)</h3>"
                + _EXAMPLE_HEAD + _example_rows(ex["gained"], "<span class=gain>+</span>")
                + _example_rows(ex["lost"], "<span class=loss>−</span>") + _example_rows(ex["changed"], "~")
                + "</tbody></table>"
            )
    else:
        out.append("<p>No decision differs.</p>")
    return "".join(out) + "</section>"


def _examples(doc: Mapping[str, Any]) -> str:
    out = ['<section id="examples"><h2>Examples per rule</h2>']
    for rid, r in _ranked(doc["rules"]):
        if not r["decisions"]:
            continue
        top = ", ".join(f"{u['user_id']} ({u['decisions']})" for u in r["top_users"])
        actions = ", ".join(f"{k} {n:,}" for k, n in r["actions"].items()) or "none"
        out.append(
            f'<details id="ex-{esc(rid)}"><summary><code>{esc(rid)}</code> — {r["decisions"]:,} decisions</summary>'
            f"<p class=muted>actions: {esc(actions)} · top users: {esc(top)}</p>"
            + _EXAMPLE_HEAD + _example_rows(r["examples"]) + "</tbody></table></details>"
        )
    return "".join(out) + "</section>"


def _input(doc: Mapping[str, Any]) -> str:
    rep = doc["replay"]
    rows = "".join(f"<tr><td class=n>{i['line']:,}</td><td>{esc(i['reason'])}</td></tr>" for i in rep["invalid_lines"])
    more = rep["invalid"] - len(rep["invalid_lines"])
    invalid = (f"<table><thead><tr><th>line</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
               + (f"<p>… and {more:,} more invalid lines.</p>" if more > 0 else "")) if rows else "<p>No invalid line.</p>"
    late = ""
    if rep["late"]:
        late = f"<p>{rep['late']:,} events came later than the lateness allows and were not evaluated: " + esc(
            ", ".join(rep["late_event_ids"][:20])) + ("…" if rep["late"] > 20 else "") + "</p>"
    return f'<section id="input"><h2>Input</h2>{invalid}{late}<p>{rep["duplicates"]:,} duplicate events ignored.</p></section>'


def _foot(doc: Mapping[str, Any]) -> str:
    return (
        "<footer class=muted><p>stream-guard backtest · the same detector as replay and the streaming worker.</p></footer>"
        f"<script>{_JS}</script></body></html>"
    )
