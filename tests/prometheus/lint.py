#!/usr/bin/env python3
"""Static checks of the Grafana dashboards and the Prometheus rules (run by check.sh).

  tests/prometheus/lint.py [--root REPO]

Dashboards (dashboards/*.json): valid JSON with a uid, the DS_PROMETHEUS input and the
datasource/job/instance/route variables; panel ids unique, grid positions inside the 24-column
grid and not overlapping; every panel but a row has a datasource and targets with an
expression, a unit and a legend; every switchyard_* selector is filtered by
job=~"$job", instance=~"$instance" and, when the metric has a route label, route=~"$route".

Rules (deploy/prometheus/*rules.yml): every alert has severity, summary, description and a
runbook_url whose anchor exists in RUNBOOK.md; action=rollback only on critical alerts; the
unit tests (*.test.yml) make every alert (each severity) fire with its annotations checked and
also show it not firing, and evaluate every recording rule; render-rules.sh changes durations
and nothing else.

Alertmanager example: the switchyard-rollback receiver posts to the sidecar's webhook with a
bearer token file and send_resolved.

Everywhere: every switchyard_* name is in tests/prometheus/metrics.txt (histograms with their
_bucket/_sum/_count series), every label a selector or a by/on clause names exists, and every
recording-rule name used is defined. Prints each problem and exits 1 if there is any.
"""

import argparse
import json
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import queries  # noqa: E402

STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
TOKEN_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
SELECTOR_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
DURATION_RE = re.compile(r"\b\d+(?:ms|[smhdwy])\b")
RUNBOOK_RE = re.compile(r"^deploy/prometheus/RUNBOOK\.md#([a-z0-9_-]+)$")
ALWAYS_LABELS = {"job", "instance"}
SEVERITIES = {"critical", "warning", "info"}


class Problems:
    def __init__(self, root):
        self.root = root
        self.items = []

    def add(self, path, where, msg):
        rel = os.path.relpath(path, self.root) if os.path.isabs(path) else path
        self.items.append(f"{rel}: {where}: {msg}" if where else f"{rel}: {msg}")


def load_metrics(path, problems):
    """name -> set of labels, for every series name the families expose."""
    series = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) < 2 or fields[1] not in ("counter", "gauge", "histogram"):
                problems.add(path, f"line {n}",
                             "expected: <name> counter|gauge|histogram [labels...]")
                continue
            name, kind, labels = fields[0], fields[1], set(fields[2:])
            if kind == "histogram":
                series[name + "_bucket"] = labels | {"le"}
                series[name + "_sum"] = labels
                series[name + "_count"] = labels
            else:
                series[name] = labels
    return series


def check_expr(expr, path, where, metrics, recorded, known_labels, problems, dashboard=False):
    stripped = STRING_RE.sub('""', expr)
    for tok in sorted(set(TOKEN_RE.findall(stripped))):
        if ":" in tok:
            if tok not in recorded:
                problems.add(path, where, f"recording rule {tok} is not defined in the rule files")
        elif tok.startswith("switchyard_") and tok not in metrics:
            problems.add(path, where, f"metric {tok} is not in tests/prometheus/metrics.txt")
    for m in GROUPING_RE.finditer(stripped):
        for label in filter(None, (s.strip() for s in m.group(2).split(","))):
            if label not in known_labels:
                problems.add(path, where,
                             f"{m.group(1)} ({label}): no metric has a label '{label}'")
    selected = set()
    for m in SELECTOR_RE.finditer(expr):
        name, body = m.group(1), m.group(2)
        selected.add(m.start(1))
        matchers = {lm.group(1): (lm.group(2), lm.group(3)) for lm in MATCHER_RE.finditer(body)}
        if name in metrics:
            for label in matchers:
                if label not in metrics[name] | ALWAYS_LABELS:
                    problems.add(path, where, f"{name} has no label '{label}'")
        if dashboard and name.startswith("switchyard_"):
            wanted = [("job", "$job"), ("instance", "$instance")]
            if "route" in metrics.get(name, ()):
                wanted.append(("route", "$route"))
            for label, var in wanted:
                if matchers.get(label) != ("=~", var):
                    problems.add(path, where, f'{name} is not filtered by {label}=~"{var}"')
    if dashboard:
        for m in re.finditer(r"\bswitchyard_[a-zA-Z0-9_]*", stripped):
            if not re.match(r"\s*\{", stripped[m.end():]):
                problems.add(path, where, f"{m.group(0)} has no job/instance filter")


def check_grid(path, panels, problems):
    ids, cells = {}, {}
    for p in panels:
        title = p.get("title", "?")
        pid = p.get("id")
        if not isinstance(pid, int):
            problems.add(path, f"panel '{title}'", "id is not an integer")
        elif pid in ids:
            problems.add(path, f"panel '{title}'", f"id {pid} is also used by '{ids[pid]}'")
        else:
            ids[pid] = title
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            problems.add(path, f"panel '{title}'", f"gridPos {g} needs integer x, y, w, h")
            continue
        if g["w"] < 1 or g["h"] < 1 or g["x"] < 0 or g["y"] < 0 or g["x"] + g["w"] > 24:
            problems.add(path, f"panel '{title}'", f"gridPos {g} is outside the 24-column grid")
            continue
        area = [(x, y) for y in range(g["y"], g["y"] + g["h"])
                for x in range(g["x"], g["x"] + g["w"])]
        taken = next((c for c in area if c in cells), None)
        if taken:
            problems.add(path, f"panel '{title}'",
                         f"overlaps '{cells[taken]}' at x={taken[0]} y={taken[1]}")
        cells.update((c, title) for c in area if c not in cells)


def check_dashboard(path, metrics, recorded, known_labels, problems):
    try:
        dash, entries = queries.dashboard_entries(path)
    except (OSError, json.JSONDecodeError) as e:
        problems.add(path, "", f"not valid JSON: {e}")
        return 0
    if not isinstance(dash.get("uid"), str) or not dash["uid"]:
        problems.add(path, "", "uid is not set")
    if not dash.get("title"):
        problems.add(path, "", "title is not set")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.add(path, "", "schemaVersion is missing or older than 36 (Grafana 9)")
    inputs = {i.get("name"): i for i in dash.get("__inputs") or []}
    if (inputs.get("DS_PROMETHEUS") or {}).get("pluginId") != "prometheus":
        problems.add(path, "__inputs", "needs a DS_PROMETHEUS input of the prometheus plugin")
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
    if (variables.get("datasource") or {}).get("type") != "datasource":
        problems.add(path, "templating", "needs a 'datasource' variable of type datasource")
    for name in ("job", "instance", "route"):
        v = variables.get(name)
        if not v or v.get("type") != "query":
            problems.add(path, "templating", f"needs a query variable '{name}'")
        elif not (v.get("multi") and v.get("includeAll")):
            problems.add(path, f"variable {name}", "should allow several values and All")
        elif queries.label_values_to_promql(queries.variable_query(v)) is None:
            problems.add(path, f"variable {name}", "query is not label_values(selector, label)")

    panels = list(queries.walk_panels(dash.get("panels")))
    if not panels:
        problems.add(path, "", "has no panels")
    check_grid(path, panels, problems)
    for p in panels:
        title = p.get("title") or "?"
        where = f"panel '{title}'"
        if not p.get("title"):
            problems.add(path, where, "has no title")
        if p.get("type") == "row":
            continue
        ds = p.get("datasource")
        if not ds or (isinstance(ds, dict) and not ds.get("uid")):
            problems.add(path, where, "has no datasource")
        elif isinstance(ds, dict) and ds.get("uid") != "${datasource}":
            problems.add(path, where, "datasource should be the ${datasource} variable")
        targets = p.get("targets") or []
        if not targets:
            problems.add(path, where, "has no targets")
        refs = set()
        for t in targets:
            if not str(t.get("expr", "")).strip():
                problems.add(path, where, f"target {t.get('refId', '?')} has no expr")
            if t.get("refId") in refs:
                problems.add(path, where, f"refId {t.get('refId')} is used twice")
            refs.add(t.get("refId"))
            legend_needed = p.get("type") in ("timeseries", "state-timeline", "bargauge")
            if legend_needed and not t.get("legendFormat"):
                problems.add(path, where, f"target {t.get('refId', '?')} has no legendFormat")
        if p.get("type") in ("timeseries", "stat", "bargauge"):
            if not ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit"):
                problems.add(path, where, "has no unit")

    for kind, title, expr, _ in entries:
        if not expr.strip():
            continue
        check_expr(expr, path, title, metrics, recorded, known_labels, problems,
                   dashboard=kind in ("panel", "annotation"))
        try:
            queries.substitute(expr)
        except ValueError as e:
            problems.add(path, title, str(e))
    return len(entries)


def runbook_anchors(path):
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
                anchors.add(slug)
    return anchors


def load_tests(root, problems):
    tests = []
    folder = os.path.join(root, "deploy", "prometheus")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".test.yml"):
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f) or {}
            tests.extend(doc.get("tests") or [])
    if not tests:
        problems.add(folder, "", "no promtool unit tests (*.test.yml)")
    return tests


def check_rules(path, rules, metrics, recorded, known_labels, anchors, tests, problems):
    fired, quiet, evaluated = set(), set(), set()
    for t in tests:
        for a in t.get("alert_rule_test") or []:
            exp = a.get("exp_alerts") or []
            if not exp:
                quiet.add(a.get("alertname"))
            for e in exp:
                labels = e.get("exp_labels") or {}
                ann = e.get("exp_annotations") or {}
                if all(ann.get(k) for k in ("summary", "description", "runbook_url")):
                    fired.add((a.get("alertname"), labels.get("severity")))
        for q in t.get("promql_expr_test") or []:
            evaluated.update(TOKEN_RE.findall(STRING_RE.sub('""', str(q.get("expr", "")))))

    for kind, title, expr, rule in rules:
        check_expr(str(expr), path, title, metrics, recorded, known_labels, problems)
        if kind == "record":
            if rule["record"] not in evaluated:
                problems.add(path, title, "no promql_expr_test evaluates it")
            continue
        name = rule.get("alert")
        labels = rule.get("labels") or {}
        ann = rule.get("annotations") or {}
        sev = labels.get("severity")
        if sev not in SEVERITIES:
            problems.add(path, title, f"severity must be one of {sorted(SEVERITIES)}")
        if "action" in labels and (labels["action"] != "rollback" or sev != "critical"):
            problems.add(path, title, "action: rollback belongs on critical alerts only")
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                problems.add(path, title, f"has no {key} annotation")
        m = RUNBOOK_RE.match(str(ann.get("runbook_url", "")))
        if not m:
            problems.add(path, title, "runbook_url is not deploy/prometheus/RUNBOOK.md#<anchor>")
        elif m.group(1) not in anchors:
            problems.add(path, title, f"RUNBOOK.md has no heading for #{m.group(1)}")
        if not DURATION_RE.fullmatch(str(rule.get("for", ""))):
            problems.add(path, title, "needs a `for:` duration (render-rules.sh rewrites it)")
        if (name, sev) not in fired:
            problems.add(path, title, "no unit test makes it fire with its annotations checked")
        if name not in quiet:
            problems.add(path, title, "no unit test shows it not firing (exp_alerts: [])")


def check_rendered(path, shipped, rendered, problems):
    """The rendered rules differ from the shipped ones in durations only, all of them short."""
    if [(k, t) for k, t, _, _ in shipped] != [(k, t) for k, t, _, _ in rendered]:
        problems.add(path, "render-rules.sh", "changed the set of rules")
        return
    window, for_, offset = (queries.RENDER_ARGS[i] for i in (1, 3, 5))
    for (_, title, a, ra), (_, _, b, rb) in zip(shipped, rendered):
        a, b = str(a), str(b)
        if DURATION_RE.sub("D", a) != DURATION_RE.sub("D", b):
            problems.add(path, title, "render-rules.sh changed more than durations")
        for r in re.findall(r"\[([^\]]*)\]", STRING_RE.sub('""', b)):
            if r != window:
                problems.add(path, title, f"rendered range [{r}] is not [{window}]")
        for o in re.findall(r"\boffset\s+(\S+)", b):
            if o.rstrip(")") != offset:
                problems.add(path, title, f"rendered offset {o} is not {offset}")
        if "for" in rb and str(rb["for"]) != for_:
            problems.add(path, title, f"rendered for: {rb['for']} is not {for_}")
        if {k: v for k, v in ra.items() if k not in ("expr", "for")} != \
                {k: v for k, v in rb.items() if k not in ("expr", "for")}:
            problems.add(path, title, "render-rules.sh changed labels or annotations")


def check_alertmanager(path, problems):
    """The rollback receiver is the sidecar's webhook, authenticated, told about resolutions."""
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    receivers = {r.get("name"): r for r in doc.get("receivers") or []}
    hooks = (receivers.get("switchyard-rollback") or {}).get("webhook_configs") or []
    if len(hooks) != 1:
        problems.add(path, "switchyard-rollback", "needs exactly one webhook_config")
        return
    hook = hooks[0]
    if hook.get("url") != "http://127.0.0.1:9901/alerts/alertmanager":
        problems.add(path, "switchyard-rollback", "url is not the sidecar's /alerts/alertmanager")
    if hook.get("send_resolved") is not True:
        problems.add(path, "switchyard-rollback", "send_resolved must be true")
    auth = (hook.get("http_config") or {}).get("authorization") or {}
    if not auth.get("credentials_file") or auth.get("type", "Bearer") != "Bearer":
        problems.add(path, "switchyard-rollback", "needs a Bearer authorization.credentials_file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=queries.DEFAULT_ROOT, help="repository root")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    problems = Problems(root)

    metrics = load_metrics(os.path.join(root, "tests", "prometheus", "metrics.txt"), problems)
    known_labels = set().union(*metrics.values()) | ALWAYS_LABELS if metrics else ALWAYS_LABELS

    rule_sets, recorded = [], set()
    for path in queries.rule_files(root):
        with open(path, encoding="utf-8") as f:
            shipped = queries.rule_entries(f.read())
        rule_sets.append((path, shipped))
        recorded.update(r["record"] for k, _, _, r in shipped if k == "record")
    if not rule_sets:
        problems.add(os.path.join(root, "deploy", "prometheus"), "", "no *rules.yml")

    anchors_path = os.path.join(root, "deploy", "prometheus", "RUNBOOK.md")
    anchors = runbook_anchors(anchors_path) if os.path.exists(anchors_path) else set()
    tests = load_tests(root, problems)
    n_rules = 0
    for path, shipped in rule_sets:
        n_rules += len(shipped)
        check_rules(path, shipped, metrics, recorded, known_labels, anchors, tests, problems)
        try:
            rendered = queries.rule_entries(queries.render_rules(root, path))
            check_rendered(path, shipped, rendered, problems)
        except RuntimeError as e:
            problems.add(path, "render-rules.sh", str(e))

    am_path = os.path.join(root, "deploy", "alertmanager", "alertmanager.example.yml")
    if os.path.exists(am_path):
        check_alertmanager(am_path, problems)
    else:
        problems.add(am_path, "", "missing")

    dashboards = queries.dashboard_files(root)
    if not dashboards:
        problems.add(os.path.join(root, "dashboards"), "", "no dashboards")
    n_queries = sum(check_dashboard(p, metrics, recorded, known_labels, problems)
                    for p in dashboards)

    for p in problems.items:
        print(f"FAIL {p}")
    if problems.items:
        print(f"lint: {len(problems.items)} problem(s)")
        return 1
    print(f"lint: ok ({len(dashboards)} dashboard(s), {n_queries} dashboard queries, "
          f"{n_rules} rules, {len(metrics)} metric series names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
