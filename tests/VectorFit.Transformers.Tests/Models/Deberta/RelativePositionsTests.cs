using VectorFit.Transformers.Models;
using TorchSharp;

namespace VectorFit.Transformers.Tests.Models.Deberta;

[Collection("libtorch")]
public sealed class RelativePositionsTests
{
    // Hand-computed with DeBERTa-v3's 256 buckets and maximum position 512 (mid = 128):
    // |δ| ≤ 128 is kept; otherwise 128 + ⌈ln(|δ|/128) / ln(511/128) · 127⌉ with δ's sign,
    // e.g. δ = 200: ln(1.5625) = 0.44629, ln(3.99219) = 1.38434, 0.32239 · 127 = 40.94 → 41 → 169.
    [Theory]
    [InlineData(0, 0)]
    [InlineData(5, 5)]
    [InlineData(-7, -7)]
    [InlineData(128, 128)]
    [InlineData(-128, -128)]
    [InlineData(129, 129)]
    [InlineData(200, 169)]
    [InlineData(255, 192)]
    [InlineData(300, 207)]
    [InlineData(-300, -207)]
    [InlineData(400, 233)]
    [InlineData(511, 255)]
    [InlineData(1000, 317)]
    public void BucketsLikeDebertaV3(long relative, long expected)
    {
        RelativePositions.Bucket(relative, bucketSize: 256, maxPosition: 512).Should().Be(expected);
    }

    [Fact]
    public void Float32ArithmeticNeverLandsOnACeilingBoundary()
    {
        // PyTorch computes the buckets in float32; agreement with exact (float64) arithmetic over every distance
        // shows the result does not depend on the last bit of the logarithms.
        for (long d = -2048; d <= 2048; d++)
        {
            long exact = Math.Abs(d) <= 128 ? d : Math.Sign(d) * (128 + (long)Math.Ceiling(Math.Log(Math.Abs(d) / 128.0) / Math.Log(511.0 / 128) * 127));
            RelativePositions.Bucket(d, 256, 512).Should().Be(exact, $"distance {d}");
        }
    }

    [Fact]
    public void WithoutBucketsTheDistanceIsKept()
    {
        RelativePositions.Bucket(700, bucketSize: -1, maxPosition: 512).Should().Be(700);
    }

    [Fact]
    public void BuildHoldsBucketOfQueryMinusKey()
    {
        using var positions = RelativePositions.Build(3, 4, bucketSize: 4, maxPosition: 8);

        positions.shape.Should().Equal(3, 4);
        positions.data<long>().ToArray().Should().Equal(0, -1, -2, -3, 1, 0, -1, -2, 2, 1, 0, -1);
    }
}
