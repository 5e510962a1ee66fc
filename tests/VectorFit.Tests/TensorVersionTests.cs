using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Tests;

/// <summary>
/// libtorch's version counter, reached by its exported symbol (TorchSharp does not expose it): what the composed-weight
/// cache relies on to trust U and V without copies. If a libtorch upgrade renames the symbol, these fail first.
/// </summary>
[Collection("libtorch")]
public sealed class TensorVersionTests
{
    [Fact]
    public void IsAvailable_OnThisProjectsLibTorch() => TensorVersion.IsAvailable.Should().BeTrue();

    [Fact]
    public void EveryInPlaceOperation_MovesIt_ReadsDoNot()
    {
        using var t = torch.ones(3, 4);
        Version(t).Should().Be(0);

        using (var sum = t.sum())
        using (var product = t.matmul(t.t()))
        {
            Version(t).Should().Be(0, "reads are not writes");
        }

        using (var two = 2.0.ToScalar())
        {
            t.mul_(two);  // in-place results are the same object: not disposed
        }

        Version(t).Should().Be(1);

        using (torch.no_grad())
        using (var source = torch.zeros(3, 4))
        {
            t.copy_(source);  // load_state_dict's write
        }

        Version(t).Should().Be(2, "no_grad does not stop the counter");

        using (var alias = t.detach())
        using (var row = t[0])
        using (var one = 1.0.ToScalar())
        {
            alias.add_(one);
            Version(t).Should().Be(3, "a detached alias shares the counter");
            row.fill_(one);
            Version(t).Should().Be(4, "so does a view");
        }
    }

    [Fact]
    public void RawWrites_DoNotMoveIt()
    {
        using var t = torch.ones(2, 2, dtype: ScalarType.Float64);
        var values = t.data<double>();
        values[0, 0] = 5.0;
        Version(t).Should().Be(0, "data<T>() writes memory without libtorch: the layer counts hand-outs for this");
    }

    [Fact]
    public void InferenceTensors_HaveNoVersion_AndDoNotCrash()
    {
        Tensor t;
        using (torch.inference_mode())
        {
            t = torch.ones(2);
        }

        using (t)
        {
            TensorVersion.TryGet(t, out _).Should().BeFalse();
        }
    }

    private static long Version(Tensor t)
    {
        TensorVersion.TryGet(t, out var version).Should().BeTrue();
        return version;
    }
}
