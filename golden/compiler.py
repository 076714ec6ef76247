"""Compile an integer model (:class:`~tessera.golden.inference.QModel`) into a system program.

:func:`compile_model` places every layer's weights and activations in the system's memories and
returns a :class:`Program`: the *setup* instructions (loads of weights, requantization
parameters and sparse matrices, once per model) and, for any input, the *inference*
instructions (load the input, one instruction per layer, read the logits, BARRIER, STATS).

Mapping
-------
- ``conv``: CONV on the systolic array; B is ``weight.T`` in :func:`~tessera.golden.systolic.pack_b`
  words; when ``OH * OW`` exceeds the engine's ``max_m``, one CONV per chunk of output rows.
- ``fc`` with a codebook: FC on the sparse array (EIE format with the configuration's PEs and
  widths; every layer resident at its own pointer, matrix and parameter bases, and its codebook
  in its own slot, loaded with the model: the inference loads no codebook). An FC straight
  after another is ``resident``: its input is already in the engine's source buffers.
- ``fc`` without a codebook: a CONV of a 1 x 1 kernel over a ``1 x 1 x in`` image: the (h, w, c)
  flattening is the activation memory's NHWC order, so no data moves.
- ``maxpool``: POOL.

Activations ping-pong between two regions of the activation memory, each as large as the
largest feature map; the input sits in region 0.
"""

from dataclasses import dataclass, field

import numpy as np

from .eie import pack_entries
from .errors import TesseraError
from .isa import FIELD_BITS, Barrier, Conv, Fc, Load, Op, Pool, Read, Space, Stats, int8_words
from .system_config import BIAS_BITS, MULTIPLIER_BITS
from .systolic import pack_b

__all__ = ["LayerPlan", "Program", "compile_model"]


def _ceil_div(a, b):
    return -(-a // b)


def _qparam_words(bias, multiplier, shift):
    words = []
    for b, m, s in zip(np.asarray(bias).tolist(), np.asarray(multiplier).tolist(),
                       np.asarray(shift).tolist()):
        words.append((int(b) & 0xFFFF_FFFF) | int(m) << BIAS_BITS
                     | int(s) << (BIAS_BITS + MULTIPLIER_BITS))
    return words


@dataclass
class LayerPlan:
    """Where one layer runs: its engine and the indices of its instructions in the body."""

    name: str
    kind: str
    engine: str
    instructions: list = field(default_factory=list)


@dataclass
class Program:
    """A compiled model.

    Attributes
    ----------
    config : SystemConfig
    setup : list
        Instructions that load the model (run once, after reset), ending with STATS: the host
        checks its error word before running inputs.
    layers : list of LayerPlan
    input_base, input_size : int
        Where :meth:`inference` loads an input (int8, the model's input shape flattened).
    output_base, output_size : int
        Where the logits end up.
    """

    config: object
    model_name: str
    input_shape: tuple
    setup: list
    body: list
    layers: list
    input_base: int
    output_base: int
    output_size: int

    @property
    def input_size(self):
        return int(np.prod(self.input_shape))

    def inference(self, x_q, *, tag=0):
        """Return the instructions that run one int8 input ``x_q`` (the model's input shape).

        Raises
        ------
        TesseraError
            If ``x_q`` is not int8 of the input shape.
        """
        x = np.asarray(x_q)
        if x.dtype != np.int8 or x.shape != tuple(self.input_shape):
            raise TesseraError(f"an input must be int8 of shape {tuple(self.input_shape)}, not "
                               f"{x.dtype} {x.shape}")
        load = Load(Space.ACT, addr=self.input_base, count=x.size, payload=int8_words(x))
        return [load, *self.body, Read(self.output_base, self.output_size), Barrier(tag),
                Stats()]


def _check_field(op, name, value, what):
    bits = FIELD_BITS[op][name]
    if value >= 2**bits:
        raise TesseraError(f"{what}: {name} = {value} does not fit the instruction's {bits}-bit "
                           f"field (at most {2**bits - 1})")


def _layer_kind(layer):
    return str(layer.kind)


def compile_model(model, config):
    """Compile ``model`` (a QModel) for ``config`` (a SystemConfig) into a :class:`Program`.

    Raises
    ------
    TesseraError
        With one line naming the layer and the limit when the model does not fit the
        configuration (memories, engine buffers, instruction fields).
    """
    sys, sp = config.systolic, config.sparse
    shapes = [tuple(model.input_shape)] + [tuple(layer.out_shape) for layer in model.layers]
    region = max(int(np.prod(s)) for s in shapes)
    if 2 * region > config.act_depth:
        raise TesseraError(
            f"model {model.name} does not fit: its feature maps need 2 x {region} bytes of "
            f"activation memory, the configuration has act_depth = {config.act_depth}")
    setup, body, plans = [], [], []
    w_next = q_next = 0
    ptr_next = param_next = slot = 0
    spmat_next = np.zeros(sp.n_pes, dtype=np.int64)
    src = 0
    for layer in model.layers:
        kind = _layer_kind(layer)
        what = f"layer {layer.name}"
        dst = region - src
        in_shape = tuple(layer.in_shape)
        plan = LayerPlan(layer.name, kind, "")
        if kind == "maxpool":
            h, w, c = in_shape
            for name, value in (("h", h), ("w", w), ("c", c), ("kernel", layer.kernel),
                                ("stride", layer.stride)):
                _check_field(Op.POOL, name, value, what)
            plan.engine = "pool"
            plan.instructions.append(len(body))
            body.append(Pool(src, dst, h, w, c, layer.kernel, layer.stride))
        elif kind == "conv" or layer.codebook is None:
            if kind == "conv":
                h, w, c = in_shape
                kernel, stride, padding = layer.kernel, layer.stride, layer.padding
            else:
                h, w, c = 1, 1, int(np.prod(in_shape))
                kernel, stride, padding = 1, 1, 0
            oc, k = layer.weight.shape
            oh, ow = tuple(layer.out_shape)[:2] if kind == "conv" else (1, 1)
            for name, value in (("h", h), ("w", w), ("c", c), ("oc", oc), ("kernel", kernel),
                                ("stride", stride), ("padding", padding)):
                _check_field(Op.CONV, name, value, what)
            if k > sys.max_k or oc > sys.max_n:
                raise TesseraError(
                    f"{what} does not fit the systolic engine: K = {k}, N = {oc} but max_k = "
                    f"{sys.max_k}, max_n = {sys.max_n}")
            if ow > sys.max_m:
                raise TesseraError(f"{what} does not fit the systolic engine: one output row "
                                   f"is {ow} pixels but max_m = {sys.max_m}")
            words = pack_b(layer.weight.T, sys)
            if w_next + len(words) > config.weight_depth:
                raise TesseraError(
                    f"model {model.name} does not fit: {what} needs weight words up to "
                    f"{w_next + len(words)}, the configuration has weight_depth = "
                    f"{config.weight_depth}")
            if q_next + oc > config.qparam_depth:
                raise TesseraError(
                    f"model {model.name} does not fit: {what} needs requantization parameters "
                    f"up to {q_next + oc}, the configuration has qparam_depth = "
                    f"{config.qparam_depth}")
            setup.append(Load(Space.WEIGHT, addr=w_next, count=len(words),
                              payload=[int.from_bytes(row.tobytes(), "little")
                                       for row in words.view(np.uint8)]))
            setup.append(Load(Space.QPARAM, addr=q_next, count=oc,
                              payload=_qparam_words(layer.bias, layer.multiplier, layer.shift)))
            chunk = min(oh, sys.max_m // ow, 2**FIELD_BITS[Op.CONV]["rows"] - 1)
            plan.engine = "systolic"
            for row0 in range(0, oh, chunk):
                _check_field(Op.CONV, "row0", row0, what)
                plan.instructions.append(len(body))
                body.append(Conv(src, dst, w_next, q_next, h, w, c, oc, kernel, stride, padding,
                                 int(layer.relu), row0, min(chunk, oh - row0)))
            w_next += len(words)
            q_next += oc
        else:
            rows, cols = layer.weight.shape
            if layer.bits > sp.index_bits:
                raise TesseraError(f"{what} has {layer.bits}-bit codebook indices but the "
                                   f"sparse engine takes {sp.index_bits}")
            book = np.asarray(layer.codebook, dtype=np.int64)
            limit = 2**(sp.weight_width - 1)
            if book.min() < -limit or book.max() >= limit:
                raise TesseraError(f"{what}: a codebook value does not fit the sparse engine's "
                                   f"{sp.weight_width}-bit weights")
            if max(rows, cols) > sp.n_pes * sp.act_depth:
                raise TesseraError(
                    f"{what} does not fit the sparse engine: {rows} x {cols} but at most "
                    f"{sp.n_pes * sp.act_depth} per side")
            if slot >= sp.codebooks:
                raise TesseraError(
                    f"model {model.name} does not fit: {what} needs codebook slot {slot}, the "
                    f"sparse engine holds codebooks = {sp.codebooks}")
            matrix = model.eie(layer, n_pes=sp.n_pes, rel_bits=sp.rel_bits, ptr_bits=sp.ptr_bits)
            local = _ceil_div(rows, sp.n_pes)
            if ptr_next + cols + 1 > sp.ptr_depth or param_next + local > sp.param_depth:
                raise TesseraError(
                    f"model {model.name} does not fit: {what} needs pointers up to "
                    f"{ptr_next + cols + 1} (ptr_depth {sp.ptr_depth}) and parameter rows up "
                    f"to {param_next + local} (param_depth {sp.param_depth})")
            params = _qparam_words(layer.bias, layer.multiplier, layer.shift)
            for k in range(sp.n_pes):
                pe = matrix.pe(k)
                words = pack_entries(pe.v, pe.z, index_bits=sp.index_bits, rel_bits=sp.rel_bits,
                                     entries_per_word=sp.entries_per_word)
                base = int(spmat_next[k])
                if base + len(words) > sp.spmat_depth:
                    raise TesseraError(
                        f"model {model.name} does not fit: {what} needs {base + len(words)} "
                        f"sparse-matrix words in PE {k}, spmat_depth = {sp.spmat_depth}")
                pointers = (np.asarray(pe.col_ptr, dtype=np.int64)
                            + base * sp.entries_per_word).tolist()
                if len(pointers) % 2:
                    pointers.append(pointers[-1])
                pairs = [pointers[i] | pointers[i + 1] << sp.ptr_bits
                         for i in range(0, len(pointers), 2)]
                setup.append(Load(Space.POINTER, pe=k, addr=ptr_next // 2, count=len(pairs),
                                  payload=pairs))
                if words:
                    setup.append(Load(Space.SPMAT, pe=k, addr=base, count=len(words),
                                      payload=words))
                mine = params[k::sp.n_pes]
                if mine:
                    setup.append(Load(Space.SPARAM, pe=k, addr=param_next, count=len(mine),
                                      payload=mine))
                spmat_next[k] += len(words)
            mask = (1 << sp.weight_width) - 1
            setup.append(Load(Space.CODEBOOK, addr=slot * sp.codebook_size, count=book.size,
                              payload=[int(v) & mask for v in book.tolist()]))
            plan.engine = "sparse"
            plan.instructions.append(len(body))
            # The FC before it left its outputs in the engine's source buffers: no transfer.
            prev = body[-1] if body else None
            resident = (prev is not None and prev.op == Op.FC and prev.out_base == src
                        and prev.rows == cols)
            body.append(Fc(src, dst, cols, rows, ptr_next, param_next, int(layer.relu), slot,
                           int(resident)))
            ptr_next += cols + 1 + (cols + 1) % 2
            param_next += local
            slot += 1
        plans.append(plan)
        src = dst
    out_size = int(np.prod(shapes[-1]))
    return Program(config=config, model_name=model.name, input_shape=tuple(model.input_shape),
                   setup=[*setup, Stats()], body=body, layers=plans, input_base=0, output_base=src,
                   output_size=out_size)
