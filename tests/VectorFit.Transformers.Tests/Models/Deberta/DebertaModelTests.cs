using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests.Models.Deberta;

[Collection("libtorch")]
public sealed class DebertaModelTests
{
    [Fact]
    public void ParameterNamesAreThoseOfDebertaV3ForSequenceClassification()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Deberta(layers: 1));

        var layer = new[]
        {
            "attention.self.query_proj", "attention.self.key_proj", "attention.self.value_proj", "attention.output.dense",
            "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
        }.SelectMany(m => new[] { $"deberta.encoder.layer.0.{m}.weight", $"deberta.encoder.layer.0.{m}.bias" });
        var expected = new[]
        {
            "deberta.embeddings.word_embeddings.weight", "deberta.embeddings.LayerNorm.weight", "deberta.embeddings.LayerNorm.bias",
            "deberta.encoder.rel_embeddings.weight", "deberta.encoder.LayerNorm.weight", "deberta.encoder.LayerNorm.bias",
            "pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias",
        }.Concat(layer);

        model.state_dict().Keys.Should().BeEquivalentTo(expected);
        model.state_dict()["deberta.encoder.rel_embeddings.weight"].shape.Should().Equal(8, 16); // 2 × position_buckets rows
    }

    [Fact]
    public void ForwardShapesAndPaddingInvariance()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Deberta(), numLabels: 1);
        model.eval();
        using var ids = torch.tensor(new long[] { 2, 9, 10, 6, 3 }, [1, 5]);
        using var padded = torch.tensor(new long[] { 2, 9, 10, 6, 3, 0, 0 }, [1, 7]);
        using var paddedMask = torch.tensor(new long[] { 1, 1, 1, 1, 1, 0, 0 }, [1, 7]);

        using var plain = model.call(ids, torch.ones_like(ids), torch.zeros_like(ids));
        using var withPadding = model.call(padded, paddedMask, torch.zeros_like(padded));
        using var hidden = model.Encode(padded, paddedMask, torch.zeros_like(padded));

        plain.shape.Should().Equal(1, 1);
        hidden.shape.Should().Equal(1, 7, 16);
        withPadding.allclose(plain, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
    }

    [Fact]
    public void MaskedSoftmaxZeroesHiddenPairsAndFullyMaskedRows()
    {
        using var scores = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [1, 1, 2, 3]);
        using var mask = DebertaV2Encoder.PairMask(torch.tensor(new long[] { 1, 1, 0 }, [1, 3]));

        double[] p = Dense.Values(DisentangledSelfAttention.MaskedSoftmax(scores.narrow(2, 0, 2), mask.narrow(2, 1, 2)));
        double e = Math.Exp(1);

        p.Should().HaveCount(6);
        p[0].Should().BeApproximately(1 / (1 + e), 1e-6);
        p[1].Should().BeApproximately(e / (1 + e), 1e-6);
        p[2].Should().Be(0);
        p[3..].Should().AllSatisfy(x => x.Should().Be(0), "query 2 is padding: its whole row is masked");
    }

    [Fact]
    public void DisentangledAttentionMatchesTheDirectDefinition()
    {
        TransformerConfig config = TinyCheckpoint.Deberta();
        torch.manual_seed(5);
        using var attention = new DisentangledSelfAttention(config);
        using (torch.no_grad())
        {
            foreach (var (_, parameter) in attention.named_parameters())
            {
                parameter.normal_(0, 0.5);
            }
        }

        var p = attention.named_parameters().ToDictionary(x => x.name, x => Dense.Values(x.parameter));
        const int Batch = 2, Length = 6, Hidden = 16, Heads = 2, HeadSize = 8, Span = 4;
        using var x = torch.randn(Batch, Length, Hidden);
        using var table = torch.randn(2 * Span, Hidden);
        long[] maskValues = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        using var mask = torch.tensor(maskValues, [Batch, Length]);
        using var pairMask = DebertaV2Encoder.PairMask(mask);
        using var positions = RelativePositions.Build(Length, Length, config.PositionBuckets, config.EffectiveMaxRelativePositions);

        double[] actual = Dense.Values(attention.call(x, pairMask, positions, table));

        double[] input = Dense.Values(x);
        double[] rel = Dense.Values(table);
        var relRows = Enumerable.Range(0, 2 * Span).Select(m => Dense.Row(rel, m, Hidden)).ToArray();
        var kr = relRows.Select(r => Dense.Linear(r, p["key_proj.weight"], p["key_proj.bias"], Hidden, Hidden)).ToArray();
        var qr = relRows.Select(r => Dense.Linear(r, p["query_proj.weight"], p["query_proj.bias"], Hidden, Hidden)).ToArray();
        double scale = Math.Sqrt(HeadSize * 3.0);
        static int Clamp(long c) => (int)Math.Clamp(c, 0, (2 * Span) - 1);
        bool anyOutsideBuckets = false;
        for (int b = 0; b < Batch; b++)
        {
            var rows = Enumerable.Range(0, Length).Select(i => Dense.Row(input, (b * Length) + i, Hidden)).ToArray();
            var q = rows.Select(r => Dense.Linear(r, p["query_proj.weight"], p["query_proj.bias"], Hidden, Hidden)).ToArray();
            var k = rows.Select(r => Dense.Linear(r, p["key_proj.weight"], p["key_proj.bias"], Hidden, Hidden)).ToArray();
            var v = rows.Select(r => Dense.Linear(r, p["value_proj.weight"], p["value_proj.bias"], Hidden, Hidden)).ToArray();
            for (int h = 0; h < Heads; h++)
            {
                for (int i = 0; i < Length; i++)
                {
                    var allowed = Enumerable.Range(0, Length).Select(j => maskValues[(b * Length) + i] == 1 && maskValues[(b * Length) + j] == 1).ToArray();
                    var scores = new double[Length];
                    for (int j = 0; j < Length; j++)
                    {
                        long delta = RelativePositions.Bucket(i - j, 4, 8);
                        long reverse = RelativePositions.Bucket(j - i, 4, 8);
                        anyOutsideBuckets |= delta != i - j;
                        double content = Dense.HeadDot(q[i], k[j], h, HeadSize);
                        double c2p = Dense.HeadDot(q[i], kr[Clamp(delta + Span)], h, HeadSize);
                        double p2c = Dense.HeadDot(k[j], qr[Clamp(-reverse + Span)], h, HeadSize);
                        scores[j] = (content + c2p + p2c) / scale;
                    }

                    double[] probabilities = Dense.Softmax(scores, allowed);
                    for (int c = 0; c < HeadSize; c++)
                    {
                        double expected = Enumerable.Range(0, Length).Sum(j => probabilities[j] * v[j][(h * HeadSize) + c]);
                        actual[(((b * Length) + i) * Hidden) + (h * HeadSize) + c].Should().BeApproximately(expected, 2e-4, $"b{b} h{h} i{i} c{c}");
                    }
                }
            }
        }

        anyOutsideBuckets.Should().BeTrue("distances beyond half the bucket count exercise the log buckets");
    }
}
