using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// Autograd state and gradients against analytic derivatives; tensor metadata.
[Collection("libtorch")]
public class AutogradTests
{
    static double[] V(Tensor t) => t.data<double>().ToArray();

    [Fact]
    public void RequiresGradAndLeaves()
    {
        var x = tensor(new[] { 1.0, 2 });
        x.requires_grad.Should().BeFalse();
        x.is_leaf.Should().BeTrue();
        x.requires_grad = true;
        x.requires_grad.Should().BeTrue();
        var y = x * 2;
        y.requires_grad.Should().BeTrue();
        y.is_leaf.Should().BeFalse();
        x.requires_grad_(false).Should().BeSameAs(x);
        x.requires_grad.Should().BeFalse();
        x.requires_grad_().requires_grad.Should().BeTrue();
        x.with_requires_grad(false).Should().BeSameAs(x);
        x.requires_grad.Should().BeFalse();
        FluentActions.Invoking(() => tensor(new long[] { 1 }).requires_grad = true).Should().Throw<System.Runtime.InteropServices.ExternalException>().WithMessage("*floating point*");
    }

    [Fact]
    public void BackwardComputesAnalyticGradients()
    {
        // f(x, w) = Σ (w·x)² + sin(x₀):  ∂f/∂x = 2w²x + [cos x₀, 0],  ∂f/∂w = 2wx²
        var x = tensor(new[] { 0.5, -1.5 }, requires_grad: true);
        var w = tensor(new[] { 2.0, 3.0 }, requires_grad: true);
        var f = (w * x).pow(2).sum() + x[0].sin();
        f.backward();
        V(x.grad!)[0].Should().BeApproximately(2 * 4 * 0.5 + Math.Cos(0.5), 1e-15);
        V(x.grad!)[1].Should().BeApproximately(2 * 9 * -1.5, 1e-15);
        V(w.grad!).Should().Equal(2 * 2 * 0.25, 2 * 3 * 2.25);
    }

    [Fact]
    public void GradientsAccumulateUntilClearedOrZeroed()
    {
        var x = tensor(new[] { 1.0, 2.0 }, requires_grad: true);
        x.grad.Should().BeNull();
        (x * 3).sum().backward();
        (x * x).sum().backward();
        V(x.grad!).Should().Equal(3 + 2, 3 + 4);
        x.grad!.zero_();
        V(x.grad!).Should().Equal(0, 0);   // zeroed in place: the gradient tensor is kept
        (x * 3).sum().backward();
        V(x.grad!).Should().Equal(3, 3);
        x.grad = null;
        x.grad.Should().BeNull();
        (x * 3).sum().backward();
        V(x.grad!).Should().Equal(3, 3);
    }

    [Fact]
    public void GradCanBeSetToATensor()
    {
        var x = tensor(new[] { 1.0, 2.0 }, requires_grad: true);
        x.grad = tensor(new[] { 0.5, 0.25 });
        V(x.grad!).Should().Equal(0.5, 0.25);
        (x * 2).sum().backward();
        V(x.grad!).Should().Equal(2.5, 2.25);
        var frozen = tensor(new[] { 1.0 });
        frozen.grad = tensor(new[] { 4.0 });   // a tensor that does not require grad may still hold one
        V(frozen.grad!).Should().Equal(4.0);
    }

    [Fact]
    public void BackwardWithSeedRetainAndCreateGraph()
    {
        var x = tensor(new[] { 1.0, 2.0, 3.0 }, requires_grad: true);
        var y = x * x;
        y.backward(new[] { tensor(new[] { 1.0, 0.5, 0.0 }) }, retain_graph: true);
        V(x.grad!).Should().Equal(2 * 1.0, 2 * 2.0 * 0.5, 0);
        y.backward(new[] { tensor(new[] { 1.0, 1.0, 1.0 }) });   // the graph was retained
        V(x.grad!).Should().Equal(2 + 2, 2 + 4, 6);
        FluentActions.Invoking(() => y.backward(new[] { ones_like(y) })).Should().Throw<System.Runtime.InteropServices.ExternalException>();
        FluentActions.Invoking(() => (x * x).backward()).Should().Throw<System.Runtime.InteropServices.ExternalException>().WithMessage("*scalar outputs*");
        FluentActions.Invoking(() => x.sum().backward(inputs: new[] { x })).Should().Throw<NotSupportedException>();

        // create_graph: the gradient is differentiable, giving the second derivative of x³: 6x
        var z = tensor(new[] { 2.0 }, requires_grad: true);
        z.pow(3).sum().backward(create_graph: true);
        var g = z.grad!;
        g.requires_grad.Should().BeTrue();
        V(g).Should().Equal(12.0);
        z.grad = null;
        g.sum().backward();
        V(z.grad!).Should().Equal(12.0);
    }

    [Fact]
    public void DetachSharesDataButNotTheGraph()
    {
        var x = tensor(new[] { 1.0, 2.0 }, requires_grad: true);
        var d = x.detach();
        d.requires_grad.Should().BeFalse();
        d.is_leaf.Should().BeTrue();
        d.add_(1);
        V(x).Should().Equal(2, 3);   // same memory
        var y = (x * 2).detach() * x;
        y.sum().backward();
        V(x.grad!).Should().Equal(4, 6);   // the detached factor is a constant
    }

    [Fact]
    public void NoGradStopsRecordingAndEnableGradRestoresIt()
    {
        var x = tensor(new[] { 1.0 }, requires_grad: true);
        using (no_grad()) {
            (x * 2).requires_grad.Should().BeFalse();
            using (enable_grad()) (x * 2).requires_grad.Should().BeTrue();
            x.mul_(3);   // in-place update of a leaf, as optimizers do
        }
        V(x).Should().Equal(3);
        (x * 2).requires_grad.Should().BeTrue();
        FluentActions.Invoking(() => x.mul_(3)).Should().Throw<System.Runtime.InteropServices.ExternalException>().WithMessage("*leaf*");
    }

    [Fact]
    public void MetadataDescribesTheTensor()
    {
        var t = zeros(new long[] { 2, 3, 4 }, ScalarType.Float64);
        (t.Dimensions, t.dim(), t.ndim).Should().Be((3L, 3L, 3L));
        (t.NumberOfElements, t.numel()).Should().Be((24L, 24L));
        t.shape.Should().Equal(2, 3, 4);
        t.size().Should().Equal(2, 3, 4);
        (t.size(0), t.size(2), t.size(-1), t.size(-3)).Should().Be((2L, 4L, 4L, 2L));
        FluentActions.Invoking(() => t.size(3)).Should().Throw<IndexOutOfRangeException>();
        FluentActions.Invoking(() => t.size(-4)).Should().Throw<IndexOutOfRangeException>();
        t.stride().Should().Equal(12, 4, 1);
        t.dtype.Should().Be(ScalarType.Float64);
        (t.device_type, t.device_index, t.is_cuda).Should().Be((DeviceType.CPU, -1, false));
        t.device.type.Should().Be(DeviceType.CPU);
        t.is_contiguous().Should().BeTrue();
        t.Handle.Should().NotBe(IntPtr.Zero);
        t.IsInvalid.Should().BeFalse();
        t.ToString().Should().Be("[2x3x4], type = Float64, device = cpu");
        tensor(1.0).shape.Should().BeEmpty();
    }
}
