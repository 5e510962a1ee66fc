using VectorFit.Transformers.Import;
using VectorFit.Transformers.Tests.TestSupport;

namespace VectorFit.Transformers.Tests.Import;

/// <summary>The ONNX reader and importer on graphs they must refuse, built with the test's protobuf writer.</summary>
public sealed class OnnxImportTests
{
    private static readonly string[] Vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"];

    [Fact]
    public void Bytes_that_are_not_onnx_are_refused_naming_the_file()
    {
        var act = () => OnnxGraph.Parse([0x0A, 0xFF, 0xFF], "broken.onnx");

        act.Should().Throw<InvalidDataException>().WithMessage("broken.onnx*not an ONNX model*");
    }

    [Fact]
    public void A_weight_no_bias_names_is_refused_with_its_name_and_shape()
    {
        // MatMul(x, "17") with no Add of a named bias after it: nothing tells which Linear "17" is.
        var graph = Graph(
            [Tensor("17", [4, 4]), Tensor("embeddings.word_embeddings.weight", [8, 4])],
            [Node("MatMul", ["x", "17"], ["y"])]);

        var act = () => OnnxBertImporter.Import(graph, Vocabulary, Path.Combine(Path.GetTempPath(), "never-written"));

        act.Should().Throw<InvalidDataException>().WithMessage("*cannot name 1 weight tensor(s)*17 [4, 4]*MatMul*X.bias*");
    }

    [Fact]
    public void A_generic_weight_is_named_from_the_bias_its_matmul_meets()
    {
        var graph = Graph(
            [Tensor("931", [4, 6]), Tensor("encoder.layer.0.intermediate.dense.bias", [6])],
            [Node("MatMul", ["x", "931"], ["y"]), Node("Add", ["encoder.layer.0.intermediate.dense.bias", "y"], ["z"])]);

        var (tensors, renamed) = OnnxBertImporter.NameTensors(graph);

        renamed.Should().Be(1);
        tensors.Should().ContainKey("encoder.layer.0.intermediate.dense.weight");
        tensors["encoder.layer.0.intermediate.dense.weight"].Transpose.Should().BeTrue("MatMul stores (in, out); Hugging Face wants (out, in)");
    }

    [Fact]
    public void A_graph_without_encoder_layers_is_refused_listing_what_is_missing()
    {
        var graph = Graph(
            [Tensor("embeddings.word_embeddings.weight", [8, 4]), Tensor("embeddings.position_embeddings.weight", [16, 4])],
            [Node("Gather", ["embeddings.word_embeddings.weight", "input_ids"], ["e"])]);
        using var temp = new TempDirectory();

        var act = () => OnnxBertImporter.Import(graph, Vocabulary, Path.Combine(temp.Path, "out"));

        act.Should().Throw<InvalidDataException>().WithMessage("*does not map onto a BERT encoder: no encoder.layer.N tensors*");
        Directory.Exists(Path.Combine(temp.Path, "out")).Should().BeFalse("nothing is written for a refused graph");
    }

    [Fact]
    public void Import_refuses_a_folder_that_already_holds_a_model_and_leaves_it_unchanged()
    {
        using var temp = new TempDirectory();
        string config = temp.Write("model/config.json", "{}");

        var act = () => OnnxBertImporter.Import(Graph([Tensor("embeddings.word_embeddings.weight", [8, 4])], [Node("Identity", ["a"], ["b"])]), Vocabulary, Path.Combine(temp.Path, "model"));

        act.Should().Throw<IOException>().WithMessage("*already holds a model*");
        File.ReadAllText(config).Should().Be("{}");
    }

    [Fact]
    public void Vocabulary_with_crlf_line_endings_is_read_without_carriage_returns()
    {
        var tokens = OnnxBertImporter.ParseVocabulary("[PAD]\r\n[CLS]\r\n[SEP]\r\nhello\r\n", "vocab.txt");

        tokens.Should().Equal("[PAD]", "[CLS]", "[SEP]", "hello");
    }

    private static OnnxGraph Graph(ProtobufWriter[] initializers, ProtobufWriter[] nodes)
    {
        var graph = new ProtobufWriter();
        foreach (var node in nodes)
        {
            graph.Message(1, node);
        }

        foreach (var initializer in initializers)
        {
            graph.Message(5, initializer);
        }

        return OnnxGraph.Parse(new ProtobufWriter().Varint(1, 8).Message(7, graph).ToArray(), "test.onnx");
    }

    private static ProtobufWriter Tensor(string name, long[] dims)
    {
        var tensor = new ProtobufWriter();
        foreach (long d in dims)
        {
            tensor.Varint(1, (ulong)d);
        }

        tensor.Varint(2, 1).String(8, name).Bytes(9, new byte[dims.Aggregate(4L, (a, b) => a * b)]);
        return tensor;
    }

    private static ProtobufWriter Node(string op, string[] inputs, string[] outputs)
    {
        var node = new ProtobufWriter();
        foreach (string input in inputs)
        {
            node.String(1, input);
        }

        foreach (string output in outputs)
        {
            node.String(2, output);
        }

        return node.String(4, op);
    }
}
