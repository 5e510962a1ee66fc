using TorchSharp;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class SampleTests
{
    [Fact]
    public void TensorSoftmaxMatchesTheDefinitionAlongTheGivenDimension()
    {
        var x = tensor(new double[] { 1, 2, 3, 0, 0, 0 }, new long[] { 2, 3 });
        double total = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);

        var rows = x.softmax(-1).data<double>().ToArray();
        var columns = x.softmax(0).data<double>().ToArray();

        rows[0].Should().BeApproximately(Math.Exp(1) / total, 1e-12);
        rows[2].Should().BeApproximately(Math.Exp(3) / total, 1e-12);
        rows[3].Should().BeApproximately(1.0 / 3, 1e-12);
        columns[0].Should().BeApproximately(Math.Exp(1) / (Math.Exp(1) + 1), 1e-12);
    }

    [Fact]
    public void TensorSoftmaxCanComputeInAnotherDtype()
    {
        var x = tensor(new float[] { 0, 1 }, new long[] { 2 });

        var y = x.softmax(0, ScalarType.Float64);

        y.dtype.Should().Be(ScalarType.Float64);
        y.data<double>().ToArray()[1].Should().BeApproximately(Math.E / (1 + Math.E), 1e-12);
    }
}
