using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests;

/// <summary>
/// Compiles and runs the README quick start on the BERT-shaped model, so the snippet
/// stays real API. The lines between the markers are the snippet, verbatim but for the model, batches and preset.
/// </summary>
[Collection("libtorch")]
public sealed class QuickStartTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-quickstart-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void QuickStart_Runs()
    {
        using var model = new TinyBert(seed: 1);
        using var fresh = new TinyBert(seed: 1);
        var batches = new[] { (TinyBert.Tokens(1), torch.tensor(new long[] { 0, 1, 2, 0 })) };
        var path = Path.Combine(_folder, "rte.safetensors");

        // ---- snippet ----
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        Console.WriteLine(report);  // trainable params: … || all params: … || trainable%: …
        var optimizer = torch.optim.AdamW(model.parameters().Where(p => p.requires_grad).ToList(), lr: 1e-3);
        var avf = AvfScheduler.FromModel(model, AvfPresets.Rte.Avf);  // the paper's RTE schedule (Table 7)
        foreach (var (input, labels) in batches)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.forward(input), labels).backward();
            optimizer.step();
            avf.Step();
        }

        VectorFitAdapter.Save(model, report, path, avf.Options);  // only σ, b and the head: kilobytes

        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());  // later: a fresh base model
        VectorFitAdapter.Load(fresh, path);
        ModelSurgery.MergeAndUnload(fresh);  // back to plain Linear layers for inference
        // ---- end of snippet ----

        ModelSurgery.FindVectorFitLayers(fresh).Should().BeEmpty();
        optimizer.Dispose();
        foreach (var (input, labels) in batches)
        {
            input.Dispose();
            labels.Dispose();
        }
    }
}
