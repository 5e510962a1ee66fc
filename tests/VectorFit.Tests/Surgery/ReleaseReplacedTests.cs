using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// Surgery frees the weights of the Linear layers it replaced at once (not at some later garbage collection), except a
/// layer whose weight is still a parameter of the model (tied weights).
/// </summary>
[Collection("libtorch")]
public sealed class ReleaseReplacedTests
{
    [Fact]
    public void ReplacedLinear_IsDisposed()
    {
        using var model = nn.Sequential(("first", SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 1)), ("second", SeededLinear(3, 2, hasBias: true, ScalarType.Float64, seed: 2)));
        var first = (Linear)model.named_children().First().module;
        var weight = first.weight!;

        ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = new[] { "first" } });

        weight.IsInvalid.Should().BeTrue("the replaced layer's weight is freed by surgery, not left to the finalizer");
        using var x = Seeded(3, ScalarType.Float64, 5, 4);
        using var y = model.forward(x);
        y.shape.Should().Equal(5, 2);
    }

    [Fact]
    public void ReplacedLinearWhoseWeightIsTiedToAKeptLayer_IsNotDisposed()
    {
        var first = SeededLinear(3, 3, hasBias: false, ScalarType.Float64, seed: 1);
        var second = SeededLinear(3, 3, hasBias: false, ScalarType.Float64, seed: 2);
        second.weight = first.weight; // tied: one Parameter in two layers
        using var model = nn.Sequential(("first", first), ("second", second));
        using var x = Seeded(3, ScalarType.Float64, 5, 3);

        ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = new[] { "first" } });

        first.weight!.IsInvalid.Should().BeFalse("'second' still uses the weight");
        using var y = model.forward(x);
        y.shape.Should().Equal(5, 3);
    }
}
