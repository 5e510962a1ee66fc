using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.Models.Bert;

[Collection("libtorch")]
public sealed class BertModelTests
{
    [Fact]
    public void ParameterNamesAreThoseOfBertForSequenceClassification()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert(layers: 1));

        var layer = new[]
        {
            "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
            "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
        }.SelectMany(m => new[] { $"bert.encoder.layer.0.{m}.weight", $"bert.encoder.layer.0.{m}.bias" });
        var expected = new[]
        {
            "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias",
            "bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias",
        }.Concat(layer);

        model.state_dict().Keys.Should().BeEquivalentTo(expected);
    }

    [Fact]
    public void ForwardGivesOneRowOfLogitsPerExample()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: 3);
        var (ids, mask, types) = TinyCheckpoint.Batch();

        using var logits = model.call(ids, mask, types);
        using var hidden = model.Encode(ids, mask, types);

        logits.shape.Should().Equal(2, 3);
        hidden.shape.Should().Equal(2, 6, 16);
    }

    [Fact]
    public void PaddingDoesNotChangeTheLogits()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        model.eval();
        using var ids = torch.tensor(new long[] { 2, 9, 10, 3 }, [1, 4]);
        using var padded = torch.tensor(new long[] { 2, 9, 10, 3, 0, 0, 0 }, [1, 7]);
        using var paddedMask = torch.tensor(new long[] { 1, 1, 1, 1, 0, 0, 0 }, [1, 7]);

        using var plain = model.call(ids, torch.ones_like(ids), torch.zeros_like(ids));
        using var withPadding = model.call(padded, paddedMask, torch.zeros_like(padded));
        using var unmasked = model.call(padded, torch.ones_like(padded), torch.zeros_like(padded));

        withPadding.allclose(plain, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
        unmasked.allclose(plain, rtol: 1e-4, atol: 1e-5).Should().BeFalse("without the mask the padding is attended to (the check can fail)");
    }

    [Fact]
    public void SelfAttentionMatchesTheDirectDefinition()
    {
        TransformerConfig config = TinyCheckpoint.Bert();
        torch.manual_seed(3);
        using var attention = new BertSelfAttention(config);
        var p = attention.named_parameters().ToDictionary(x => x.name, x => Dense.Values(x.parameter));
        const int Batch = 2, Length = 5, Hidden = 16, Heads = 2, HeadSize = 8;
        using var x = torch.randn(Batch, Length, Hidden);
        long[] maskValues = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        using var mask = torch.tensor(maskValues, [Batch, Length]);
        using var additive = BertModel.AdditiveMask(mask, ScalarType.Float32);

        double[] actual = Dense.Values(attention.call(x, additive));

        double[] input = Dense.Values(x);
        for (int b = 0; b < Batch; b++)
        {
            var rows = Enumerable.Range(0, Length).Select(i => Dense.Row(input, (b * Length) + i, Hidden)).ToArray();
            var q = rows.Select(r => Dense.Linear(r, p["query.weight"], p["query.bias"], Hidden, Hidden)).ToArray();
            var k = rows.Select(r => Dense.Linear(r, p["key.weight"], p["key.bias"], Hidden, Hidden)).ToArray();
            var v = rows.Select(r => Dense.Linear(r, p["value.weight"], p["value.bias"], Hidden, Hidden)).ToArray();
            var allowed = Enumerable.Range(0, Length).Select(j => maskValues[(b * Length) + j] == 1).ToArray();
            for (int h = 0; h < Heads; h++)
            {
                for (int i = 0; i < Length; i++)
                {
                    var scores = Enumerable.Range(0, Length).Select(j => Dense.HeadDot(q[i], k[j], h, HeadSize) / Math.Sqrt(HeadSize)).ToArray();
                    double[] probabilities = Dense.Softmax(scores, allowed);
                    for (int c = 0; c < HeadSize; c++)
                    {
                        double expected = Enumerable.Range(0, Length).Sum(j => probabilities[j] * v[j][(h * HeadSize) + c]);
                        actual[(((b * Length) + i) * Hidden) + (h * HeadSize) + c].Should().BeApproximately(expected, 1e-4);
                    }
                }
            }
        }
    }
}
