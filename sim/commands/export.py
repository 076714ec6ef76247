"""``tessera export``: write a model file's integer model as standard ONNX.

The ONNX model takes the same float input as the imported one (``(N, C, H, W)`` for a model that
starts with a convolution, ``(N, F)`` otherwise), quantizes it with ``QuantizeLinear`` and runs
every layer as ``QLinearConv`` (fully connected layers as 1x1 convolutions) with an int8 ``Relu``;
its outputs are ``logits_int8`` and ``logits``. See ``docs/onnx.md`` for where onnxruntime's
rounding and tessera's differ.
"""

HELP = "write a model file's integer model as ONNX (QLinearConv), for any ONNX runtime"


def add_arguments(parser):
    """Add the options of ``tessera export``."""
    parser.add_argument("file", metavar="MODEL.npz", help="a model file from `tessera compress -o`")
    parser.add_argument("-o", "--output", metavar="FILE.onnx", required=True,
                        help="the ONNX file to write")


def run(args):
    """Load the model file, export it, write the ONNX file."""
    from tessera.golden.modelfile import load
    from tessera.golden.onnx import export_qmodel
    from tessera.sim.files import output_path, replacing

    output = output_path(args.output)
    model, _ = load(args.file)
    proto = export_qmodel(model)
    with replacing(output) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    print(f"wrote {output} ({len(model.layers)} layers, opset "
          f"{proto.opset_import[0].version}, input {proto.graph.input[0].name!r})")
    return 0
