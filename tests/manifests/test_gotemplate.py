"""The Go-template renderer the chart tests rely on behaves as Go's text/template (and Helm's functions) do for
the constructs the chart uses, and refuses everything else instead of guessing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hack.manifests import gotemplate as gt

VALUES = {
    "s": "web",
    "t": True,
    "f": False,
    "n": 7946,
    "zero": 0,
    "empty": "",
    "l": [],
    "m": {},
    "tols": [{"operator": "Exists"}],
    "res": {"requests": {"memory": "128Mi", "cpu": "100m"}},
    "q": 'a"b',
    "nested": {"a": {"b": "deep"}},
}


def render(template: str) -> str:
    return gt.render(template, {"Values": VALUES, "Release": {"Namespace": "metallb-system"}})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("a {{ .Values.s }} b", "a web b", id="value"),
        pytest.param("{{ .Values.nested.a.b }}", "deep", id="nested-value"),
        pytest.param("ns: {{ .Release.Namespace }}", "ns: metallb-system", id="release-namespace"),
        pytest.param("{{ .Values.t }} {{ .Values.f }}", "true false", id="booleans-print-as-go"),
        pytest.param("port: {{ .Values.n }}", "port: 7946", id="integers-print-plain"),
        pytest.param("a  {{- .Values.s }}  b", "aweb  b", id="left-trim-eats-spaces-before"),
        pytest.param("a {{ .Values.s -}} \n\n b", "a webb", id="right-trim-eats-newlines-after"),
        pytest.param("k:\n  {{- if .Values.f }}\n  v\n  {{- end }}\nz", "k:\nz", id="false-if-leaves-nothing"),
        pytest.param("k:\n  {{- if .Values.t }}\n  v\n  {{- end }}\nz", "k:\n  v\nz", id="true-if-keeps-its-line"),
        pytest.param("{{ if .Values.l }}x{{ else }}y{{ end }}", "y", id="empty-list-is-false"),
        pytest.param("{{ if .Values.zero }}x{{ else }}y{{ end }}", "y", id="zero-is-false"),
        pytest.param("{{ with .Values.empty }}x{{ end }}", "", id="with-skips-empty-string"),
        pytest.param("{{ with .Values.m }}x{{ else }}none{{ end }}", "none", id="with-else"),
        pytest.param("{{ with .Values.nested }}{{ .a.b }}{{ end }}", "deep", id="with-rebinds-dot"),
        pytest.param("{{ with .Values.nested }}{{ $.Values.s }}{{ end }}", "web", id="dollar-is-the-root"),
        pytest.param("k:\n  {{- toYaml .Values.tols | nindent 2 }}", "k:\n  - operator: Exists", id="toyaml-nindent"),
        pytest.param("{{ toYaml .Values.res }}", "requests:\n  cpu: 100m\n  memory: 128Mi", id="toyaml-sorts-keys"),
        pytest.param("{{ .Values.s | indent 4 }}", "    web", id="indent"),
        pytest.param("{{ .Values.q | quote }}", '"a\\"b"', id="quote-escapes"),
        pytest.param('{{ "}}" }}', "}}", id="string-literal-may-hold-braces"),
        pytest.param("{{ `{{ $labels.pool }}` }}", "{{ $labels.pool }}", id="raw-string"),
        pytest.param(
            "args:\n- a\n{{- with .Values.s }}\n- --class={{ . }}\n{{- end }}\nnext: 1",
            "args:\n- a\n- --class=web\nnext: 1",
            id="optional-list-item",
        ),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{{ .Values.nope }}", "no value 'nope'", id="missing-value-is-an-error"),
        pytest.param("{{ .Values.s.x }}", "cannot read 'x'", id="field-of-a-string"),
        pytest.param("{{ range .Values.l }}{{ end }}", "unsupported action", id="range-is-not-supported"),
        pytest.param('{{ include "x" . }}', "unsupported action", id="include-is-not-supported"),
        pytest.param("{{ .Values.s | upper }}", "unknown function", id="unknown-function"),
        pytest.param("{{ .Values.s", "unterminated action", id="unterminated-action"),
        pytest.param("{{ if .Values.t }}x", "without {{ end }}", id="if-without-end"),
        pytest.param("x{{ end }}", "without if/with", id="end-without-if"),
        pytest.param("{{ .Values.tols }}", "use toYaml", id="a-list-cannot-be-printed"),
        pytest.param("{{ nindent 2 }}", "takes 2 argument", id="wrong-arity"),
    ],
)
def test_refused(template: str, message: str) -> None:
    with pytest.raises(gt.TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render(template)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, False, id="nil"),
        pytest.param(False, False, id="false"),
        pytest.param(0, False, id="zero"),
        pytest.param("", False, id="empty-string"),
        pytest.param([], False, id="empty-list"),
        pytest.param({}, False, id="empty-map"),
        pytest.param(True, True, id="true"),
        pytest.param(1, True, id="one"),
        pytest.param("false", True, id="the-string-false"),
        pytest.param([0], True, id="list-of-zero"),
        pytest.param({"a": None}, True, id="map-with-a-key"),
    ],
)
def test_go_truth(value: Any, expected: bool) -> None:
    assert gt.truthy(value) is expected


@given(st.text())
def test_escaped_text_renders_as_itself(text: str) -> None:
    assert gt.render(gt.escape(text), {}) == text
