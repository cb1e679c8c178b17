#!/usr/bin/env python3
"""Every PromQL expression the dashboards and the alert rules run, ready for a live Prometheus.

Prints one JSON object per line: {"source": <file relative to the repository>, "title": <what
runs it>, "expr": <PromQL>}. Sources:
  - dashboards/*.json: panel targets ("<panel title> [<refId>]"), annotation queries
    ("annotation <name>") and query variables ("variable <name>"; Grafana's
    label_values(selector, label) becomes the PromQL `group by (label) (selector)`);
  - deploy/prometheus/*rules.yml, rendered by render-rules.sh with short windows (--window 10s
    --for 2s --offset 30s), as an end-to-end test with a 1s scrape interval loads them:
    "record <name>" and "alert <name> (<severity>)".
Grafana variables are replaced: $job and $instance by .+, $route by .*, $__rate_interval by
30s, $__interval by 15s, $__range by 5m; $datasource does not occur in expressions.

  tests/prometheus/queries.py [--root REPO] [--no-render]

lint.py imports the same functions, so what is checked is what is printed.
"""

import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.path.dirname(os.path.dirname(HERE))

RENDER_ARGS = ["--window", "10s", "--for", "2s", "--offset", "30s"]

SUBSTITUTIONS = {
    "__rate_interval": "30s",
    "__interval": "15s",
    "__range": "5m",
    "instance": ".+",
    "route": ".*",
    "job": ".+",
}

LABEL_VALUES_RE = re.compile(
    r"^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def substitute(expr):
    """Replaces the Grafana variables of `expr`; raises ValueError for any other variable."""

    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in SUBSTITUTIONS:
            raise ValueError(f"unknown Grafana variable ${name} in: {expr}")
        return SUBSTITUTIONS[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def label_values_to_promql(query):
    """label_values(selector, label) -> group by (label) (selector); None if not that form."""
    m = LABEL_VALUES_RE.match(query)
    if not m:
        return None
    return f"group by ({m.group(2)}) ({m.group(1)})"


def walk_panels(panels):
    """Every panel, including those nested in (collapsed) rows."""
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def variable_query(var):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q or var.get("definition") or ""


def dashboard_entries(path):
    """(kind, title, raw expression, owner dict) for every query in one dashboard file."""
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    out = []
    for p in walk_panels(dash.get("panels")):
        for t in p.get("targets") or []:
            title = f"{p.get('title', '')} [{t.get('refId', '?')}]"
            out.append(("panel", title, t.get("expr", ""), p))
    for a in (dash.get("annotations") or {}).get("list") or []:
        if a.get("expr"):
            out.append(("annotation", f"annotation {a.get('name', '')}", a["expr"], a))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") == "query":
            q = variable_query(v)
            promql = label_values_to_promql(q)
            out.append(("variable", f"variable {v.get('name', '')}", promql if promql else q, v))
    return dash, out


def render_rules(root, path):
    script = os.path.join(root, "deploy", "prometheus", "render-rules.sh")
    res = subprocess.run([script, *RENDER_ARGS, path], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{script} failed on {path}: {res.stderr.strip()}")
    return res.stdout


def rule_entries(text):
    """(kind, title, expression, rule dict) for every rule of one rules file's text."""
    doc = yaml.safe_load(text) or {}
    out = []
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            if "record" in rule:
                out.append(("record", f"record {rule['record']}", rule.get("expr", ""), rule))
            else:
                sev = (rule.get("labels") or {}).get("severity", "?")
                title = f"alert {rule.get('alert')} ({sev})"
                out.append(("alert", title, rule.get("expr", ""), rule))
    return out


def dashboard_files(root):
    return sorted(glob.glob(os.path.join(root, "dashboards", "*.json")))


def rule_files(root):
    return sorted(glob.glob(os.path.join(root, "deploy", "prometheus", "*rules.yml")))


def all_queries(root, render=True):
    """Every expression as {source, title, expr}, Grafana variables substituted."""
    out = []
    for path in dashboard_files(root):
        _, entries = dashboard_entries(path)
        for _, title, expr, _ in entries:
            out.append({"source": os.path.relpath(path, root), "title": title,
                        "expr": substitute(" ".join(expr.split()))})
    for path in rule_files(root):
        if render:
            text = render_rules(root, path)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        for _, title, expr, _ in rule_entries(text):
            out.append({"source": os.path.relpath(path, root), "title": title,
                        "expr": " ".join(str(expr).split())})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=DEFAULT_ROOT, help="repository root (default: this checkout)")
    ap.add_argument("--no-render", action="store_true", help="print the rules' production windows")
    args = ap.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `queries.py | head` is not an error
    try:
        queries = all_queries(os.path.abspath(args.root), render=not args.no_render)
    except (OSError, ValueError, RuntimeError, json.JSONDecodeError, yaml.YAMLError) as e:
        print(f"queries.py: {e}", file=sys.stderr)
        return 1
    if not queries:
        print("queries.py: no dashboards or rules found", file=sys.stderr)
        return 1
    for q in queries:
        print(json.dumps(q, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
