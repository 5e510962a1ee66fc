using TorchSharp;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class Lib1Tests
{
    [Theory]
    [InlineData(ScalarType.Float16, true)]
    [InlineData(ScalarType.BFloat16, true)]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.Float64, true)]
    [InlineData(ScalarType.Int32, false)]
    [InlineData(ScalarType.Int64, false)]
    [InlineData(ScalarType.Bool, false)]
    public void IsFloatingPoint_ByDtype(ScalarType dtype, bool expected)
    {
        is_floating_point(dtype).Should().Be(expected);
    }

    [Fact]
    public void IsFloatingPoint_ByTensor()
    {
        using var f = zeros(2, dtype: ScalarType.Float64);
        using var i = zeros(2, dtype: ScalarType.Int64);
        is_floating_point(f).Should().BeTrue();
        is_floating_point(i).Should().BeFalse();
    }

    [Fact]
    public void Linspace_GivesEvenlySpacedValuesIncludingBothEnds()
    {
        using var t = linspace(-1, 1, 5, dtype: ScalarType.Float64);
        t.dtype.Should().Be(ScalarType.Float64);
        t.data<double>().ToArray().Should().Equal(-1, -0.5, 0, 0.5, 1);
        using var f = linspace(0, 3, 4);
        f.dtype.Should().Be(ScalarType.Float32);
        f.data<float>().ToArray().Should().Equal(0f, 1f, 2f, 3f);
    }
}
