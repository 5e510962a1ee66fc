using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Tests.Reliability;

/// <summary>
/// Layers built from bad weights fail at construction with an <see cref="ArgumentException"/> that names the problem, never
/// later inside libtorch (or silently with NaN outputs).
/// </summary>
[Collection("libtorch")]
public sealed class LayerInputTests
{
    public static TheoryData<ScalarType, double, long> OverflowingWeights => new()
    {
        // dtype, fill value, size: σ₁ = fill·size exceeds the dtype's largest finite value while every entry is finite.
        { ScalarType.Float16, 2000, 64 },   // σ₁ = 128000 > 65504
        { ScalarType.Float32, 1e38, 4 },    // σ₁ = 4e38 > 3.4e38
        { ScalarType.Float64, 1e308, 4 },   // σ₁ = 4e308 > 1.8e308
    };

    [Theory]
    [MemberData(nameof(OverflowingWeights))]
    public void FiniteWeightsWhoseSigmaOverflowsTheDtype_AreRejected(ScalarType dtype, double fill, long size)
    {
        using var linear = FilledLinear(dtype, fill, size);
        linear.weight!.isfinite().all().item<bool>().Should().BeTrue("the weights themselves are finite");

        var vectorFit = () => new VectorFitLinear(linear);
        vectorFit.Should().Throw<ArgumentException>().WithMessage($"*largest singular value*overflows {dtype}*wider dtype*");
        var svft = () => new SvftLinear(linear);
        svft.Should().Throw<ArgumentException>().WithMessage($"*overflows {dtype}*");
    }

    [Fact]
    public void OverflowingLayer_SurgeryFailsAndTheModelKeepsItsLinear()
    {
        using var model = nn.Sequential(("proj", FilledLinear(ScalarType.Float16, 2000, 64)));
        var act = () => ModelSurgery.Apply(model, new VectorFitConfig { TargetNames = ["proj"] });
        act.Should().Throw<ArgumentException>().WithMessage("*changed nothing*'proj'*overflows Float16*");
        model.named_modules().Select(m => m.module).OfType<Linear>().Should().ContainSingle();
        model.named_parameters().Single(p => p.name == "proj.weight").parameter.requires_grad.Should().BeTrue("nothing was frozen");
    }

    [Fact]
    public void EmptyWeight_IsRejectedAtConstruction()
    {
        using var linear = nn.Linear(new Parameter(torch.zeros(4, 0)), new Parameter(torch.zeros(4)));
        var act = () => new VectorFitLinear(linear);
        act.Should().Throw<ArgumentException>().WithMessage("*empty, shape (4, 0)*");
    }

    [Fact]
    public void MetaDeviceWeight_IsAnArgumentException()
    {
        using var linear = nn.Linear(4, 4, device: torch.META);
        var act = () => new VectorFitLinear(linear);
        act.Should().Throw<ArgumentException>().WithMessage("*meta device*");
    }

    [Theory]
    [InlineData("shape")]
    [InlineData("dtype")]
    public void BiasThatDoesNotFitTheWeight_IsRejectedAtConstruction(string what)
    {
        using var weight = torch.ones(4, 3);
        using var bias = what == "shape" ? torch.ones(5) : torch.ones(4, dtype: ScalarType.Float64);
        using var linear = nn.Linear(new Parameter(weight.clone()), new Parameter(bias.clone()));
        var vectorFit = () => new VectorFitLinear(linear);
        vectorFit.Should().Throw<ArgumentException>().WithMessage(what == "shape" ? "*bias has shape (5)*needs a bias of shape (4)*" : "*bias is Float64*weight is Float32*");
        var svft = () => new SvftLinear(linear);
        svft.Should().Throw<ArgumentException>().WithMessage("*bias*");
    }

    /// <summary>Positions outside <c>M</c> that arrive through <c>load_state_dict</c> are reported by the layer, not by libtorch.</summary>
    [Fact]
    public void SvftPositionsOutOfRangeFromLoadStateDict_FailWithAMessageNamingThem()
    {
        torch.manual_seed(5);
        using var linear = nn.Linear(6, 6, dtype: ScalarType.Float64);
        using var layer = new SvftLinear(linear, new SvftLinearOptions { Pattern = SvftPattern.Random(1, seed: 3) });
        var state = layer.state_dict();
        var bad = new Dictionary<string, Tensor>(state);
        using var rows = state["svft_rows"].clone();
        using (torch.no_grad())
        {
            using var big = 100L.ToScalar();
            rows.fill_(big);
        }

        bad["svft_rows"] = rows;
        layer.load_state_dict(bad);
        using var x = torch.ones(2, 6, dtype: ScalarType.Float64);

        foreach (var path in new[] { ForwardPath.Factored, ForwardPath.Materialized })
        {
            layer.PathOverride = path;
            var act = () => layer.forward(x);
            act.Should().Throw<InvalidOperationException>().WithMessage("*svft_rows/svft_cols hold positions in [*, 100], outside its 6 × 6 matrix M*", path.ToString());
        }
    }

    private static Linear FilledLinear(ScalarType dtype, double fill, long size)
    {
        var linear = nn.Linear(size, size, hasBias: false, dtype: dtype);
        using var noGrad = torch.no_grad();
        using var value = fill.ToScalar();
        linear.weight!.fill_(value);
        return linear;
    }
}
