"""lps.io: atomic writers leave the old file or the new one, never half of one."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lps.io import atomic_write_figure, atomic_write_json  # noqa: E402


def test_figure_is_png_and_a_failed_render_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out" / "fig.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    atomic_write_figure(path, fig)
    old = path.read_bytes()
    assert old[:4] == b"\x89PNG"

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        atomic_write_figure(path, fig)
    plt.close(fig)
    assert path.read_bytes() == old
    assert [p.name for p in path.parent.iterdir()] == ["fig.png"]  # no temporary file left


def test_json_round_trip(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1.5]})
    assert (tmp_path / "a.json").read_text() == '{\n  "b": 1,\n  "a": [\n    1.5\n  ]\n}\n'
