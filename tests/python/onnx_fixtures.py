"""Writes the ONNX fixtures of snni's import tests into a folder.

    python onnx_fixtures.py OUT_DIR

Models are built with onnx.helper (no PyTorch), random weights from a fixed seed, and
checked with onnx.checker:

- squeezenet11_32.onnx, resnet18_32.onnx: torchvision's SqueezeNet 1.1 and ResNet-18 at a
  32x32x3 input, with node names as torch.onnx.export writes them;
- tiny_mixed.onnx: one of each mapped op (Conv with SAME padding, BatchNormalization, Add,
  Concat, AveragePool with padding, MaxPool, Flatten of a 2x2 map, Reshape with a Constant
  shape, MatMul + Add, Gemm with alpha/beta, Identity, Dropout);
- for squeezenet11_32 and tiny_mixed also NAME.input.json (our input file, HWC) and
  NAME.expected.json (onnx.reference.ReferenceEvaluator's output, float64 lists);
- unsupported_*.onnx: one model per unsupported construct, for the error messages.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 17
rng = np.random.default_rng(20240519)


class Graph:
    """A graph under construction: nodes, initializers, one input."""

    def __init__(self, name, input_dims):
        self.name = name
        self.nodes = []
        self.inits = []
        self.input = helper.make_tensor_value_info("input", TensorProto.FLOAT, input_dims)

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def node(self, op, name, inputs, outputs=1, **attrs):
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def conv(self, name, x, c_in, c_out, k, stride=1, pad=0, bias=True, group=1, **attrs):
        fan_in = c_in // group * k * k
        w = self.init(f"{name}.weight", rng.normal(0, np.sqrt(2 / fan_in), (c_out, c_in // group, k, k)))
        inputs = [x, w]
        if bias:
            inputs.append(self.init(f"{name}.bias", rng.uniform(-0.1, 0.1, c_out)))
        return self.node("Conv", f"/{name}/Conv", inputs, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[pad] * 4, group=group, **attrs)

    def bn(self, name, x, c):
        params = [
            self.init(f"{name}.weight", rng.uniform(0.8, 1.2, c)),
            self.init(f"{name}.bias", rng.uniform(-0.1, 0.1, c)),
            self.init(f"{name}.running_mean", rng.uniform(-0.1, 0.1, c)),
            self.init(f"{name}.running_var", rng.uniform(0.8, 1.2, c)),
        ]
        return self.node("BatchNormalization", f"/{name}/BatchNormalization", [x] + params, epsilon=1e-5)

    def relu(self, name, x):
        return self.node("Relu", f"/{name}/Relu", [x])

    def model(self, output):
        def build(out):
            graph = helper.make_graph(self.nodes, self.name, [self.input], [out], self.inits)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                      producer_name="snni-lab tests/python/onnx_fixtures.py")
            model.ir_version = 8
            return model

        # The output's shape, as the exporter would declare it, from ONNX's shape inference.
        inferred = onnx.shape_inference.infer_shapes(build(helper.make_empty_tensor_value_info(output)))
        (out,) = [v for v in inferred.graph.value_info if v.name == output] or inferred.graph.output
        model = build(out)
        onnx.checker.check_model(model, full_check=True)
        return model


def squeezenet11(size=32):
    g = Graph("squeezenet1_1", [1, 3, size, size])
    x = g.conv("features/features.0", "input", 3, 64, 3, stride=2)
    x = g.relu("features/features.1", x)
    channels = 64
    fires = [(16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256)]
    index = 2
    for i, (squeeze, expand) in enumerate(fires):
        if i in (0, 2, 4):
            x = g.node("MaxPool", f"/features/features.{index}/MaxPool", [x],
                       kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
            index += 1
        p = f"features/features.{index}"
        s = g.relu(f"{p}/squeeze_activation", g.conv(f"{p}/squeeze", x, channels, squeeze, 1))
        e1 = g.relu(f"{p}/expand1x1_activation", g.conv(f"{p}/expand1x1", s, squeeze, expand, 1))
        e3 = g.relu(f"{p}/expand3x3_activation", g.conv(f"{p}/expand3x3", s, squeeze, expand, 3, pad=1))
        x = g.node("Concat", f"/{p}/Concat", [e1, e3], axis=1)
        channels = 2 * expand
        index += 1
    x = g.node("Dropout", "/classifier/classifier.0/Dropout", [x])
    x = g.relu("classifier/classifier.2", g.conv("classifier/classifier.1", x, channels, 1000, 1))
    x = g.node("GlobalAveragePool", "/classifier/classifier.3/GlobalAveragePool", [x])
    x = g.node("Flatten", "/Flatten", [x], axis=1)
    return g.model(x)


def resnet18(size=32):
    g = Graph("resnet18", [1, 3, size, size])
    x = g.relu("relu", g.bn("bn1", g.conv("conv1", "input", 3, 64, 7, stride=2, pad=3, bias=False), 64))
    x = g.node("MaxPool", "/maxpool/MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    channels = 64
    for layer, width in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            p = f"layer{layer}/layer{layer}.{block}"
            stride = 2 if block == 0 and layer > 1 else 1
            y = g.relu(f"{p}/relu", g.bn(f"{p}/bn1", g.conv(f"{p}/conv1", x, channels, width, 3, stride, 1, bias=False), width))
            y = g.bn(f"{p}/bn2", g.conv(f"{p}/conv2", y, width, width, 3, 1, 1, bias=False), width)
            if stride != 1 or channels != width:
                x = g.bn(f"{p}/downsample/downsample.1",
                         g.conv(f"{p}/downsample/downsample.0", x, channels, width, 1, stride, bias=False), width)
            y = g.node("Add", f"/{p}/Add", [y, x])
            x = g.relu(f"{p}/relu_1", y)
            channels = width
    x = g.node("GlobalAveragePool", "/avgpool/GlobalAveragePool", [x])
    x = g.node("Flatten", "/Flatten", [x], axis=1)
    w = g.init("fc.weight", rng.normal(0, np.sqrt(1 / 512), (1000, 512)))
    b = g.init("fc.bias", rng.uniform(-0.1, 0.1, 1000))
    x = g.node("Gemm", "/fc/Gemm", [x, w, b], alpha=1.0, beta=1.0, transB=1)
    return g.model(x)


def tiny_mixed():
    g = Graph("tiny_mixed", [1, 3, 8, 8])
    x = g.conv("same", "input", 3, 8, 3, auto_pad="SAME_UPPER")
    del g.nodes[-1].attribute[:]  # auto_pad replaces pads; rebuild the attributes
    g.nodes[-1].attribute.extend([helper.make_attribute("auto_pad", "SAME_UPPER"),
                                  helper.make_attribute("kernel_shape", [3, 3])])
    x = g.relu("r1", g.bn("bn", x, 8))
    side = g.conv("side", x, 8, 8, 1, bias=False)
    x = g.node("Add", "/residual/Add", [x, side])
    x = g.node("Identity", "/id/Identity", [x])
    x = g.node("AveragePool", "/avg/AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1], count_include_pad=1)
    branch = g.conv("branch", x, 8, 4, 3, pad=1)
    x = g.node("Concat", "/cat/Concat", [x, branch], axis=1)
    x = g.node("MaxPool", "/max/MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    shape = g.node("Constant", "/shape/Constant", [],
                   value=numpy_helper.from_array(np.array([1, -1], dtype=np.int64)))
    x = g.node("Reshape", "/flat/Reshape", [x, shape])  # 2x2x12 map → 48, CHW order
    w = g.init("mm.weight", rng.normal(0, np.sqrt(1 / 48), (48, 16)))
    x = g.node("MatMul", "/mm/MatMul", [x, w])
    x = g.node("Add", "/mm/Add", [x, g.init("mm.bias", rng.uniform(-0.1, 0.1, 16))])
    x = g.relu("r2", x)
    x = g.node("Dropout", "/drop/Dropout", [x])
    w = g.init("head.weight", rng.normal(0, np.sqrt(1 / 16), (16, 10)))
    b = g.init("head.bias", rng.uniform(-0.1, 0.1, (1, 10)))
    x = g.node("Gemm", "/head/Gemm", [x, w, b], alpha=0.5, beta=2.0)
    return g.model(x)


def unsupported():
    """One model per construct the importer refuses: file name → model."""
    out = {}

    def image(name, c=8, size=8):
        g = Graph(name, [1, c, size, size])
        return g, "input"

    g, x = image("depthwise")
    out["unsupported_depthwise_conv"] = g.model(g.conv("dw", x, 8, 8, 3, pad=1, group=8))
    g, x = image("grouped")
    out["unsupported_grouped_conv"] = g.model(g.conv("grouped", x, 8, 8, 3, pad=1, group=2))
    g, x = image("dilated")
    out["unsupported_dilated_conv"] = g.model(g.conv("dilated", x, 8, 8, 3, pad=2, dilations=[2, 2]))
    g, x = image("sigmoid")
    out["unsupported_sigmoid"] = g.model(g.node("Sigmoid", "/gate/Sigmoid", [g.conv("c", x, 8, 8, 1)]))
    g, x = image("relu6")
    lo, hi = g.init("lo", np.float32(0)), g.init("hi", np.float32(6))
    out["unsupported_clip_relu6"] = g.model(g.node("Clip", "/act/Clip", [g.conv("c", x, 8, 8, 1), lo, hi]))
    g, x = image("leaky")
    out["unsupported_leaky_relu"] = g.model(g.node("LeakyRelu", "/act/LeakyRelu", [x], alpha=0.1))
    g, x = image("softmax")
    y = g.node("Flatten", "/flat/Flatten", [g.node("GlobalAveragePool", "/gap/GlobalAveragePool", [x])])
    y = g.node("Gemm", "/fc/Gemm", [y, g.init("fc.weight", rng.normal(0, 0.3, (10, 8)))], transB=1)
    out["unsupported_softmax_end"] = g.model(g.node("Softmax", "/prob/Softmax", [y], axis=1))
    g, x = image("exclude_pad")
    out["unsupported_avgpool_exclude_pad"] = g.model(
        g.node("AveragePool", "/avg/AveragePool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    g, x = image("asymmetric")
    out["unsupported_asymmetric_pads"] = g.model(
        g.node("MaxPool", "/pool/MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]))
    return out


def write_reference(directory, name, model):
    """NAME.input.json (HWC, our input format) and NAME.expected.json (ONNX's output)."""
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    _, c, h, w = dims
    x = rng.uniform(-1, 1, (1, c, h, w)).astype(np.float32)
    (y,) = ReferenceEvaluator(model).run(None, {"input": x})
    with open(os.path.join(directory, f"{name}.input.json"), "w") as f:
        json.dump({"format": "snni-input", "version": 1, "shape": {"h": h, "w": w, "c": c},
                   "values": x[0].transpose(1, 2, 0).astype(np.float64).ravel().tolist()}, f)
    with open(os.path.join(directory, f"{name}.expected.json"), "w") as f:
        json.dump({"shape": list(y.shape), "values": y.astype(np.float64).ravel().tolist()}, f)


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    models = {"squeezenet11_32": squeezenet11(), "resnet18_32": resnet18(), "tiny_mixed": tiny_mixed()}
    models.update(unsupported())
    for name, model in models.items():
        onnx.save(model, os.path.join(directory, f"{name}.onnx"))
    for name in ("squeezenet11_32", "tiny_mixed"):
        write_reference(directory, name, models[name])
    print(f"wrote {len(models)} models to {directory}")


if __name__ == "__main__":
    main()
