using TorchSharp;
using VectorFit.Adapters;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// Every registered method against its layer type: the keys adapter files use are the layer's own state_dict keys, the
/// report's counts are the layer's, and the base type's merge template reproduces the layer's forward. A method whose
/// registration drifts from its layer fails here, not in a user's adapter file.
/// </summary>
[Collection("libtorch")]
public sealed class AdapterMethodTests
{
    public static TheoryData<AdaptationMethod> Methods => new(AdapterMethod.All.Select(m => m.Kind));

    [Theory]
    [MemberData(nameof(Methods))]
    public void Registration_MatchesItsLayer(AdaptationMethod kind)
    {
        var method = AdapterMethod.For(kind);
        using var linear = nn.Linear(12, 8, hasBias: true, dtype: ScalarType.Float64);
        using var layer = method.CreateLayer(linear, new VectorFitLinearOptions(), svdSource: null);

        layer.GetType().Should().Be(method.LayerType);
        layer.Method.Should().Be(kind);
        AdapterMethod.FromRecord(kind, method.RecordedSvftPattern).Should().Be(method, "a record of the method rebuilds the same method");

        var info = layer.Describe("layer", LayerRole.Query);
        var state = layer.state_dict();
        var keys = method.AdapterKeys(info).Select(k => k["layer.".Length..]).ToList();
        keys.Should().NotBeEmpty().And.OnlyContain(k => state.ContainsKey(k), "adapter files name the layer's own tensors");
        keys.Should().Contain(SvdAdaptedLinear.BiasKey);
        info.TrainableParameterCount.Should().Be(layer.TrainableParameterCount).And.BeGreaterThan(0);
        layer.TrainedParameters().Where(p => p.Trainable).Select(p => p.Parameter.requires_grad).Should().OnlyContain(trains => trains);
        state.Keys.Should().Contain([SvdAdaptedLinear.UKey, SvdAdaptedLinear.VKey]);

        using var x = Seeded(3, ScalarType.Float64, 5, 12);
        using var before = linear.forward(x);
        using var adapted = layer.forward(x);
        MaxAbsDiff(adapted, before).Should().BeLessThan(1e-12, "a fresh layer computes the original Linear");
        using var merged = layer.ToLinear();
        using var after = merged.forward(x);
        MaxAbsDiff(after, adapted).Should().BeLessThan(1e-12);
    }

    [Fact]
    public void EveryAdaptationMethod_IsRegisteredOnce()
    {
        AdapterMethod.All.Select(m => m.Kind).Should().BeEquivalentTo(Enum.GetValues<AdaptationMethod>()).And.OnlyHaveUniqueItems();
    }

    [Fact]
    public void MethodOptions_CompareByValue()
    {
        new SvftMethod { Pattern = SvftPattern.Banded(2) }.Should().Be(new SvftMethod { Pattern = SvftPattern.Banded(2) });
        new SvftMethod { Pattern = SvftPattern.Banded(2) }.Should().NotBe(new SvftMethod());
        new VectorFitMethod().Should().Be(new VectorFitMethod());
        new SvftMethod { Pattern = SvftPattern.Banded(2) }.ToString().Should().Be("Svft (Banded(d=2))");
    }
}
