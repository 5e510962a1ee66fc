using TorchSharp;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class TensorCoreTests
{
    static double[] Values(Tensor t) => t.detach().data<double>().ToArray();

    [Fact]
    public void TensorFromArrayKeepsShapeTypeAndValues()
    {
        var t = tensor(new double[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        t.shape.Should().Equal(2, 3);
        t.dtype.Should().Be(ScalarType.Float64);
        Values(t).Should().Equal(1, 2, 3, 4, 5, 6);
        Values(t.t()).Should().Equal(1, 4, 2, 5, 3, 6);   // non-contiguous view read in logical order
    }

    [Fact]
    public void MatmulMatchesTheDefinition()
    {
        var a = tensor(new double[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var b = tensor(new double[] { 5, 6, 7, 8 }, new long[] { 2, 2 });
        // [1 2;3 4]·[5 6;7 8] = [19 22; 43 50]
        Values(a.matmul(b)).Should().Equal(19, 22, 43, 50);
    }

    [Fact]
    public void BackwardGivesTheAnalyticGradient()
    {
        var x = tensor(new double[] { 1, -2, 3 }, requires_grad: true);
        (x * x).sum().backward();   // d/dx Σx² = 2x
        Values(x.grad!).Should().Equal(2, -4, 6);
        x.grad = null;
        x.grad.Should().BeNull();
    }

    [Fact]
    public void LibtorchErrorsBecomeExceptionsWithItsMessage()
    {
        var act = () => randn(2, 3).reshape(4, 2);
        act.Should().Throw<System.Runtime.InteropServices.ExternalException>().WithMessage("*shape*");
    }

    [Fact]
    public void ThinSvdRebuildsTheMatrix()
    {
        manual_seed(3);
        var a = randn(5, 3, dtype: ScalarType.Float64);
        var (u, s, vh) = linalg.svd(a, fullMatrices: false);
        u.shape.Should().Equal(5, 3);
        (u * s).matmul(vh).allclose(a, rtol: 1e-12, atol: 1e-12).Should().BeTrue();
    }
}
