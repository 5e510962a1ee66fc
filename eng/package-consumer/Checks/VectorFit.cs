// The check of the VectorFit package: the README's path (surgery → optimizer → AVF scheduler → save → merge) on a
// small model, in the package user's own process, so that loading TorchSharp's native library is part of it.
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using static TorchSharp.torch;

internal static partial class Checks
{
    /// <summary>Merged output must equal the unmerged (adapted) forward within this fraction of the largest output (float32).</summary>
    private const double MergeTolerance = 1e-5;

    public static string VectorFit()
    {
        torch.manual_seed(7);
        var model = nn.Sequential(
            ("hidden", nn.Linear(16, 32)), ("act", nn.ReLU()),
            ("inner", nn.Linear(32, 32)), ("act2", nn.ReLU()),
            ("head", nn.Linear(32, 4)));
        using var input = torch.randn(8, 16);
        using var labels = torch.tensor(new long[] { 0, 1, 2, 3, 0, 1, 2, 3 });
        using var before = model.forward(input).detach();

        var report = ModelSurgery.Apply(model, new VectorFitConfig { TargetAllLinear = true, ModulesToSave = ["head"] });
        if (report.Layers.Count != 2)
        {
            throw new InvalidOperationException($"expected 2 adapted layers (hidden, inner), got {report.Layers.Count}: {report}");
        }

        using var optimizer = new global::VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-2);
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 1 }, totalSteps: 1);
        optimizer.zero_grad();
        nn.functional.cross_entropy(model.forward(input), labels).backward();
        optimizer.step();
        avf.step();
        if (avf.AvfStepsTaken != 1)
        {
            throw new InvalidOperationException($"the AVF scheduler took {avf.AvfStepsTaken} AVF steps after step 1, expected 1");
        }

        model.eval();
        using var unmerged = model.forward(input).detach();
        var trained = (unmerged - before).abs().max().item<float>();
        if (trained < 1e-4)
        {
            throw new InvalidOperationException($"one step at lr 1e-2 changed the output by only {trained:G3}: the merge check below would prove nothing");
        }

        var path = Path.Combine(Path.GetTempPath(), $"vectorfit-consumer-{Environment.ProcessId}.safetensors");
        try
        {
            VectorFitAdapter.Save(model, report, path, avf.Options);
            var size = new FileInfo(path).Length;

            var merged = ModelSurgery.MergeAndUnload(model);
            using var after = model.forward(input).detach();
            var diff = (after - unmerged).abs().max().item<float>();
            var scale = unmerged.abs().max().item<float>();
            if (!(diff <= MergeTolerance * scale))
            {
                throw new InvalidOperationException($"merged output differs from the unmerged forward by {diff:G3}, more than {MergeTolerance:G1} × max |y| = {MergeTolerance * scale:G3}");
            }

            return $"{report.Layers.Count} layers adapted, adapter {size:N0} bytes, {merged.Count} merged, max |merged - unmerged| = {diff:G2} <= {MergeTolerance:G1} x max |y| ({scale:G3})";
        }
        finally
        {
            File.Delete(path);
        }
    }
}
