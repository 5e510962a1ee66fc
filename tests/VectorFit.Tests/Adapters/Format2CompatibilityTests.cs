using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Adapter files written before the adapted-layer base type (format 2, by commit 0c2fb82, from TinyBert(seed 1) with every
/// trained tensor perturbed) load unchanged into today's layers and reproduce the logits that version computed. The files and
/// logits, and the base model's weights, are in TestData/Format2; they were written by the library as it was, not by this one.
/// </summary>
[Collection("libtorch")]
public sealed class Format2CompatibilityTests
{
    // TinyBert computes in float64; the layers evaluate the same products in the same order, so the logits agree to round-off.
    private const double Tolerance = 1e-12;

    [Theory]
    [InlineData("vectorfit", AdaptationMethod.VectorFit)]
    [InlineData("svft-banded1", AdaptationMethod.Svft)]
    [InlineData("svft-random2", AdaptationMethod.Svft)]
    public void AFormat2File_LoadsAndReproducesTheLogitsOfTheVersionThatWroteIt(string name, AdaptationMethod method)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "TestData", "Format2");
        var adapter = Path.Combine(folder, $"{name}.adapter.safetensors");
        var expected = SafetensorsReader.Load(Path.Combine(folder, $"{name}.logits.safetensors"));
        using var expectedLogits = expected["logits"];

        var info = VectorFitAdapter.ReadInfo(adapter);
        info.FormatVersion.Should().Be(2);
        info.Method.Should().Be(method);
        info.ToSurgeryConfig().Method.Kind.Should().Be(method);
        info.FactorDType.Should().BeNull("files written before the factor dtype have no such field");
        info.ToSurgeryConfig().FactorDType.Should().BeNull();

        // The base model's weights as that version's TinyBert(seed 1) had them, so the test does not depend on how today's
        // test model initialises.
        using var model = new TinyBert(seed: 1);
        var baseWeights = SafetensorsReader.Load(Path.Combine(folder, "tinybert-seed1.base.safetensors"));
        model.load_state_dict(baseWeights, strict: true);
        foreach (var tensor in baseWeights.Values)
        {
            tensor.Dispose();
        }

        using var tokens = TinyBert.Tokens(5);
        using (var baseLogits = model.forward(tokens))
        {
            MaxAbsDiff(baseLogits, expectedLogits).Should().BeGreaterThan(1e-3, "the file changes the model, so a load that did nothing fails");
        }

        ModelSurgery.Apply(model, info.ToSurgeryConfig());
        VectorFitAdapter.Load(model, adapter);

        using var logits = model.forward(tokens);
        MaxAbsDiff(logits, expectedLogits).Should().BeLessThan(Tolerance);
    }
}
