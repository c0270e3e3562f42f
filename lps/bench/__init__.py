"""``lps bench``: what symmetrization costs on top of the base model, measured side by side.

For every base model (``mlp``, ``vit_s``, ``vit_b`` graph models with node outputs; the
``nbody`` point transformer), graph size N, sample count k, sampler and mode (eager or
``torch.compile``), one run measures:

- eval throughput (inputs per second) of the base model alone on the same ``B * k`` copies,
  and of the symmetrized model; their ratio is what symmetrization leaves of the base speed;
- a training step (forward, backward, AdamW) of both, at the same k;
- the time of the sampler alone and of the group actions alone (canonicalizing the inputs,
  mapping the outputs back), as shares of the symmetrized eval time;
- on CUDA, the peak memory of both training steps (the difference is the sampler's and the
  group actions' memory); on every device, eagerly, the bytes autograd keeps for the
  backward pass of both (activation memory);
- the graph breaks ``torch._dynamo.explain`` finds in the whole wrapper;
- the learned sampler alone over a range of N at a fixed mean degree (its cost curve), with
  the dense relaxation and, when ``relax_band`` is given, the banded one.

On CUDA the models run under bf16 autocast. Results go to JSON (device, versions and
settings included) and a PNG plot beside it. Graphs are random, with sizes uniform in
[N/2, N] and mean degree ``degree``; their ``edge_index`` is built once outside the timed
region, as a data loader would.

The ``gpu`` preset (:func:`run_gpu_bench`) measures the figures of ``docs/benchmarks.md``
that need a GPU in one budgeted run, row by row, writing the JSON after every row.

Modules: ``settings`` (names, presets), ``models`` (building base and symmetrized models and
their inputs), ``measure`` (timing and memory), ``cases`` (one base-vs-symmetrized case),
``curve`` (the sampler cost curve), ``report`` (JSON, markdown, plot), ``runner``
(:func:`run_bench`), ``gpu`` (the budgeted gpu preset).
"""

from lps.bench.cases import bench_case
from lps.bench.curve import sampler_curve
from lps.bench.measure import count_graph_breaks, peak_memory, saved_for_backward, time_call
from lps.bench.models import build_base, build_model, make_inputs, random_graphs, random_particles
from lps.bench.report import markdown_tables, plot, summarize, write_json
from lps.bench.runner import device_info, run_bench
from lps.bench.settings import (
    BASES,
    GRAPH_BASES,
    NBODY_PARTICLES,
    PRESETS,
    SAMPLERS,
    SN_SAMPLER,
    VIT_NAMES,
)

__all__ = [
    "BASES",
    "GRAPH_BASES",
    "NBODY_PARTICLES",
    "PRESETS",
    "SAMPLERS",
    "SN_SAMPLER",
    "VIT_NAMES",
    "bench_case",
    "build_base",
    "build_model",
    "count_graph_breaks",
    "device_info",
    "make_inputs",
    "markdown_tables",
    "peak_memory",
    "plot",
    "random_graphs",
    "random_particles",
    "run_bench",
    "sampler_curve",
    "saved_for_backward",
    "summarize",
    "time_call",
    "write_json",
]
