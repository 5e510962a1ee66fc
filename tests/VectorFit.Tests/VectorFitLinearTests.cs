using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>Construction, registration, ablation options and ownership of <see cref="VectorFitLinear"/>.</summary>
[Collection("libtorch")]
public sealed class VectorFitLinearTests
{
    // float32 output after an SVD in float64 rounded once to float32: U, σ and V each carry ~6e-8 relative
    // error, and a dot product of length 6 to 12 adds a few ulps; 1e-5 of the output's scale bounds it with margin.
    private const double Float32Relative = 1e-5;

    [Theory]
    [InlineData(6, 4, true)]
    [InlineData(4, 6, true)]
    [InlineData(5, 5, false)]
    [InlineData(12, 3, true)]
    public void AtConstruction_OutputEqualsOriginalLinear_Float32(long inFeatures, long outFeatures, bool hasBias)
    {
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias, ScalarType.Float32, seed: 20);
        using var layer = new VectorFitLinear(linear);
        using var x = Seeded(21, ScalarType.Float32, 3, 5, inFeatures);
        using var expected = linear.forward(x);

        foreach (var path in new[] { ForwardPath.Materialized, ForwardPath.Factored })
        {
            layer.PathOverride = path;
            using var y = layer.forward(x);
            y.dtype.Should().Be(ScalarType.Float32);
            MaxAbsDiff(y, expected).Should().BeLessThan(Float32Relative * MaxAbs(expected), $"path {path}");
        }
    }

    [Fact]
    public void AtConstruction_OutputEqualsOriginalLinear_Float64_ToRoundOff()
    {
        using var linear = SeededLinear(7, 5, hasBias: true, ScalarType.Float64, seed: 22);
        using var layer = new VectorFitLinear(linear);
        using var x = Seeded(23, ScalarType.Float64, 4, 7);
        using var expected = linear.forward(x);
        using var y = layer.forward(x);

        MaxAbsDiff(y, expected).Should().BeLessThan(1e-12 * MaxAbs(expected));
    }

    [Theory]
    [InlineData(6, 4)]
    [InlineData(4, 6)]
    [InlineData(5, 5)]
    public void Components_HaveTheDocumentedShapesNamesAndTrainability(long inFeatures, long outFeatures)
    {
        using var linear = SeededLinear(inFeatures, outFeatures, hasBias: true, ScalarType.Float32, seed: 24);
        using var layer = new VectorFitLinear(linear);
        var r = Math.Min(inFeatures, outFeatures);

        layer.rank.Should().Be(r);
        layer.in_features.Should().Be(inFeatures);
        layer.out_features.Should().Be(outFeatures);
        layer.sigma.shape.Should().Equal(r);
        layer.bias!.shape.Should().Equal(outFeatures);
        layer.U.shape.Should().Equal(outFeatures, r);
        layer.V.shape.Should().Equal(inFeatures, r);
        layer.initial_sigma.shape.Should().Equal(r);
        layer.sigma.requires_grad.Should().BeTrue();
        layer.bias.requires_grad.Should().BeTrue();
        layer.U.requires_grad.Should().BeFalse();
        layer.V.requires_grad.Should().BeFalse();

        layer.named_parameters().Select(p => p.name).Should().BeEquivalentTo("sigma", "bias");
        layer.named_buffers().Select(b => b.name).Should().BeEquivalentTo("U", "V");
        layer.state_dict().Keys.Should().BeEquivalentTo("sigma", "bias", "U", "V");
        var sigmaValues = Values(layer.sigma);
        sigmaValues.Should().BeInDescendingOrder();
        Values(layer.initial_sigma).Should().Equal(sigmaValues);
    }

    [Fact]
    public void SingularVectors_AreOrthonormal_AndReconstructTheWeight()
    {
        using var linear = SeededLinear(6, 4, hasBias: false, ScalarType.Float64, seed: 25);
        using var layer = new VectorFitLinear(linear);
        using var utu = layer.U.t().matmul(layer.U);
        using var vtv = layer.V.t().matmul(layer.V);
        using var eye = torch.eye(4, dtype: ScalarType.Float64);
        using var w = layer.U.matmul(torch.diag(layer.sigma.detach())).matmul(layer.V.t());

        MaxAbsDiff(utu, eye).Should().BeLessThan(1e-12);
        MaxAbsDiff(vtv, eye).Should().BeLessThan(1e-12);
        MaxAbsDiff(w, linear.weight).Should().BeLessThan(1e-12);
    }

    [Fact]
    public void NoTrainSigma_KeepsSigmaFrozen()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 26);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { TrainSigma = false });

        layer.sigma.requires_grad.Should().BeFalse();
        layer.bias!.requires_grad.Should().BeTrue();
        layer.Options.TrainSigma.Should().BeFalse();
    }

    [Fact]
    public void NoTrainBias_KeepsBiasFrozenButPresent()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 27);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { TrainBias = false });

        layer.sigma.requires_grad.Should().BeTrue();
        layer.bias!.requires_grad.Should().BeFalse();
        Values(layer.bias).Should().Equal(Values(linear.bias!));
    }

    [Fact]
    public void LayerWithoutBias_TrainsSigmaOnly_ByDefault()
    {
        using var linear = SeededLinear(4, 3, hasBias: false, ScalarType.Float32, seed: 28);
        using var layer = new VectorFitLinear(linear);

        layer.bias.Should().BeNull();
        layer.state_dict().Keys.Should().BeEquivalentTo("sigma", "U", "V");
    }

    [Fact]
    public void AddBias_CreatesTrainableZeroBias_AndKeepsTheOutput()
    {
        using var linear = SeededLinear(4, 3, hasBias: false, ScalarType.Float64, seed: 29);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { AddBias = true });
        using var x = Seeded(30, ScalarType.Float64, 2, 4);
        using var expected = linear.forward(x);
        using var y = layer.forward(x);

        layer.bias.Should().NotBeNull();
        layer.bias!.requires_grad.Should().BeTrue();
        layer.bias.dtype.Should().Be(ScalarType.Float64);
        Values(layer.bias).Should().Equal(0.0, 0.0, 0.0);
        layer.state_dict().Keys.Should().Contain("bias");
        MaxAbsDiff(y, expected).Should().BeLessThan(1e-12);
    }

    [Fact]
    public void AddBias_OnLayerWithBias_KeepsTheOriginalBias()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 31);
        using var layer = new VectorFitLinear(linear, new VectorFitLinearOptions { AddBias = true });

        Values(layer.bias!).Should().Equal(Values(linear.bias!));
    }

    [Fact]
    public void Options_AddBiasWithoutTrainBias_IsRejected_NamingTheFix()
    {
        var options = new VectorFitLinearOptions { AddBias = true, TrainBias = false };
        using var linear = SeededLinear(4, 3, hasBias: false, ScalarType.Float32, seed: 32);

        var act = () => new VectorFitLinear(linear, options);

        act.Should().Throw<ArgumentException>()
            .WithMessage("AddBias is true but TrainBias is false*Set TrainBias = true*")
            .And.ParamName.Should().Be("AddBias");
    }

    [Fact]
    public void NonFiniteWeight_IsRejected_AtConstruction()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 33);
        var values = Values(linear.weight);
        values[6] = double.NaN;
        Set(linear.weight, values);

        var act = () => new VectorFitLinear(linear);

        act.Should().Throw<ArgumentException>().WithMessage("linear.weight contains NaN or infinite values*");
    }

    [Fact]
    public void NullLinear_IsRejected()
    {
        var act = () => new VectorFitLinear(null!);

        act.Should().Throw<ArgumentNullException>().And.ParamName.Should().Be("linear");
    }

    [Fact]
    public void OriginalLinear_IsNeitherModifiedNorShared()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 34);
        var weightBefore = Values(linear.weight);
        var biasBefore = Values(linear.bias!);
        using var layer = VectorFitLinear.FromLinear(linear);

        using (torch.no_grad())
        {
            layer.bias!.add_(1.0);
            layer.sigma.mul_(2.0);
        }

        Values(linear.weight).Should().Equal(weightBefore);
        Values(linear.bias!).Should().Equal(biasBefore);
        linear.weight.requires_grad.Should().BeTrue("the base layer's trainability is ModelSurgery's business");
    }

    [Fact]
    public void ConstructedInsideDisposeScope_SurvivesTheScope()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 35);
        VectorFitLinear layer;
        using (torch.NewDisposeScope())
        {
            layer = new VectorFitLinear(linear);
        }

        using (layer)
        {
            layer.sigma.IsInvalid.Should().BeFalse();
            layer.bias!.IsInvalid.Should().BeFalse();
            layer.U.IsInvalid.Should().BeFalse();
            layer.V.IsInvalid.Should().BeFalse();
            layer.initial_sigma.IsInvalid.Should().BeFalse();
            using var x = torch.ones(2, 4);
            using var y = layer.forward(x);
            y.shape.Should().Equal(2, 3);
        }
    }

    [Fact]
    public void Dispose_ReleasesEveryOwnedTensor()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float32, seed: 36);
        var layer = new VectorFitLinear(linear);
        var owned = new[] { layer.sigma, layer.bias!, layer.U, layer.V, layer.initial_sigma };

        layer.Dispose();

        owned.Should().OnlyContain(t => t.IsInvalid);
        linear.weight.IsInvalid.Should().BeFalse("the original layer is not owned");
    }

    [Fact]
    public void InsideSequential_IsRegisteredAndForwarded()
    {
        using var linear = SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 37);
        var head = SeededLinear(3, 2, hasBias: true, ScalarType.Float64, seed: 38); // disposed by the model
        using var model = nn.Sequential(("adapted", new VectorFitLinear(linear)), ("head", head));
        using var x = Seeded(39, ScalarType.Float64, 5, 4);
        using var hidden = linear.forward(x);
        using var expected = head.forward(hidden);
        using var y = model.forward(x);

        model.state_dict().Keys.Should().BeEquivalentTo("adapted.sigma", "adapted.bias", "adapted.U", "adapted.V", "head.weight", "head.bias");
        model.named_parameters().Select(p => p.name).Should().BeEquivalentTo("adapted.sigma", "adapted.bias", "head.weight", "head.bias");
        MaxAbsDiff(y, expected).Should().BeLessThan(1e-12);
    }
}
