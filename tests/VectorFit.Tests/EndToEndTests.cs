using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// The user's workflow on the BERT-shaped model, float64: surgery → AdamW steps with Adaptive Vector Freezing →
/// save → load onto a fresh copy → identical logits → merge → identical logits. The trained model must differ
/// from the base model (by more than 1e-3) so that each "identical" check can fail. Tolerances: loading copies
/// the same values into a model whose U, V come from the same SVD of the same weights, so the logits agree to
/// round-off (1e-12); merging reassociates the products (float64 round-off, ~1e-15 here, checked at 1e-10).
/// </summary>
[Collection("libtorch")]
public sealed class EndToEndTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-e2e-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void SurgeryTrainWithAvfSaveLoadMerge_ReproducesTheTrainedLogits()
    {
        using var tokens = TinyBert.Tokens(seed: 5, batch: 6);
        torch.manual_seed(6);
        using var labels = torch.randint(0, TinyBert.Classes, new long[] { 6 }, dtype: ScalarType.Int64);
        using var model = new TinyBert(seed: 1);
        using var baseLogits = model.forward(tokens);

        // Surgery: q, k, v, o, f1, f2 of both layers; the classifier trains fully.
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } });
        report.UsesAvf.Should().BeTrue();
        report.TrainableParameterCount.Should().Be(208 + 27);

        // Train: AdamW on what surgery left trainable; AVF freezes 4 of the 24 vectors at steps 2 and 4.
        using var optimizer = new Optim.AdamW(model.parameters().Where(p => p.requires_grad).ToList(), lr: 1e-2);
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 2, Interval = 2, AvfSteps = 2, K = 4 });
        var losses = new List<double>();
        for (var step = 0; step < 6; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(tokens), labels);
            loss.backward();
            optimizer.step();
            avf.step();
            losses.Add(loss.item<double>());
        }

        avf.AvfStepsTaken.Should().Be(2);
        avf.FrozenSet.Should().HaveCount(4);
        losses[^1].Should().BeLessThan(losses[0], "six AdamW steps on one batch must lower its loss");
        using var trainedLogits = model.forward(tokens);
        MaxAbsDiff(trainedLogits, baseLogits).Should().BeGreaterThan(1e-3, "training must change the model, or the checks below prove nothing");

        // Save only what was trained.
        var path = Path.Combine(_folder, "tiny-bert.vectorfit.safetensors");
        VectorFitAdapter.Save(model, report, path, avf.Options);
        // The tensor data is exactly the trained values (float64); the rest is the JSON header with the base-model fingerprint.
        using (var file = File.OpenRead(path))
        {
            var headerLength = new BinaryReader(file).ReadInt64();
            (file.Length - 8 - headerLength).Should().Be(8 * report.TrainableParameterCount);
        }

        // Load onto a fresh copy of the base model, adapted the same way.
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        using (var before = fresh.forward(tokens))
        {
            MaxAbsDiff(before, trainedLogits).Should().BeGreaterThan(1e-3);
        }

        VectorFitAdapter.Load(fresh, path);
        using var loadedLogits = fresh.forward(tokens);
        MaxAbsDiff(loadedLogits, trainedLogits).Should().BeLessThan(1e-12);

        // Merge back to plain Linear layers for inference.
        ModelSurgery.MergeAndUnload(fresh).Should().HaveCount(12);
        ModelSurgery.FindLayers<VectorFitLinear>(fresh).Should().BeEmpty();
        using var mergedLogits = fresh.forward(tokens);
        MaxAbsDiff(mergedLogits, trainedLogits).Should().BeLessThan(1e-10);
    }
}
