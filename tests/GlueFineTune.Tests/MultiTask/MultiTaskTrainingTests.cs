using GlueFineTune.Cli;
using GlueFineTune.MultiTask;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace GlueFineTune.Tests.MultiTask;

[Collection("libtorch")]
public sealed class MultiTaskTrainingTests
{
    /// <summary>
    /// The loss convention Σ_k mean_{rows(k)} ℓ: after one backward pass over a mixed batch, each adapter's σ, b and head
    /// gradients equal those of a plain (unrouted) forward of the model holding that adapter alone, on its rows alone, under a
    /// mean cross-entropy. Tolerance: rtol 1e-4, atol 1e-6 — float32 round-off of the same sums taken in another order (the
    /// routed layer gathers σ per row and the mixed batch pads rows differently); a plain mean over the mixed batch would scale
    /// each adapter's gradients by its share of the rows (3/7 and 4/7 here), far outside it, which the test also checks.
    /// </summary>
    [Fact]
    public void EachAdaptersGradientIsThatOfItsRowsAlone()
    {
        using var dir = new TempDirectory();
        string modelDirectory = MultiTaskFixture.Checkpoint(dir.Path);
        using var bank = BankModel.Create(modelDirectory, 2, Pooling.Pooler, VectorFitVariant.NoAvf);
        int a = bank.Bank.Add("a");
        int b = bank.Bank.Add("b");
        using (torch.no_grad())
        {
            torch.manual_seed(11);
            foreach (var p in bank.Bank.GetTrainableParameters("b"))
            {
                p.add_(torch.randn_like(p).mul_(0.1)); // b differs from a, so that a mix-up of rows shows
            }
        }

        string[] texts = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film ."];
        int[] task = [a, b, a, b, a, b, b];
        long[] labels = [1, 0, 1, 0, 1, 0, 1];
        var data = Encode(bank, texts);

        using var scope = torch.NewDisposeScope();
        TensorBatch batch = data.MakeBatch(Enumerable.Range(0, texts.Length).ToArray());
        Tensor logits;
        using (bank.Bank.Route(task))
        {
            logits = bank.Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        }

        Tensor target = torch.tensor(labels);
        var (loss, _) = MultiTaskTrainer.RoutedLoss(logits, target, task);
        loss.backward();

        foreach (var (name, index) in new[] { ("a", a), ("b", b) })
        {
            int[] rows = Enumerable.Range(0, texts.Length).Where(r => task[r] == index).ToArray();
            var expected = AloneGradients(bank, name, data, rows, labels);
            var actual = bank.Bank.GetTensors(name).Where(t => t.tensor.requires_grad).ToDictionary(t => t.key, t => t.tensor.grad!);
            actual.Keys.Should().BeEquivalentTo(expected.Keys);
            double share = (double)rows.Length / texts.Length;
            foreach (var (key, gradient) in expected)
            {
                actual[key].allclose(gradient, rtol: 1e-4, atol: 1e-6).Should().BeTrue($"{name}: {key} gets its rows' gradient alone");
                if (key.EndsWith("classifier.weight", StringComparison.Ordinal))
                {
                    actual[key].allclose(gradient.mul(share), rtol: 1e-4, atol: 1e-6).Should().BeFalse("a plain mean over the mixed batch would scale it by the rows' share");
                }
            }
        }
    }

    [Fact]
    public void TrainingWritesOneAdapterPerTaskThatLoadsAloneAndOnlyPresentAdaptersStep()
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path);
        var (sentiment, topic) = MultiTaskFixture.Data(dir.Path);
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse(MultiTaskFixture.Args(model, Path.Combine(dir.Path, "out"), sentiment, topic)));
        var steps = new List<(string Task, long Step)>();
        MultiTaskOutcome outcome;
        using (var trainer = new MultiTaskTrainer(options, TextWriter.Null) { AfterAdapterStep = (t, s) => steps.Add((t, s)) })
        {
            trainer.StepsPerEpoch.Should().Be(4, "16 examples of both tasks in batches of 5");
            outcome = trainer.Run(TextWriter.Null, false, CancellationToken.None);
        }

        outcome.Completed.Should().BeTrue();
        outcome.Step.Should().Be(8);
        // Each step, exactly the tasks with rows in that batch step (the shuffled union decides which).
        var order0 = EpochOrder.Permutation(16, 3, 0);
        var expectedFirst = order0[..5].Select(i => i < 8 ? "sentiment" : "topic").Distinct().Order().ToList();
        steps.Where(s => s.Step == 1).Select(s => s.Task).Order().Should().Equal(expectedFirst);
        foreach (var (name, path) in outcome.Adapters)
        {
            path.Should().Be(Path.Combine(dir.Path, "out", name, RunOutputs.AdapterFileName));
            AdapterLabels.Read(path).Should().Equal(name == "sentiment" ? ["neg", "pos"] : ["film", "movie"]);
            outcome.Metrics[name].Epochs.Should().HaveCount(2);
            File.Exists(Path.Combine(dir.Path, "out", name, MetricsLog.FileName)).Should().BeTrue();
            var (alone, _) = CheckpointLoader.Load(model, 2);
            using (alone)
            {
                ModelSurgery.Apply(alone, TrainingSession.SurgeryConfig(alone, VectorFitVariant.NoAvf, ["bert.pooler", "classifier"]));
                var act = () => VectorFitAdapter.Load(alone, path);
                act.Should().NotThrow("the adapter file of each task loads alone onto the base");
            }
        }
    }

    private static EncodedDataset Encode(BankModel bank, string[] texts) =>
        new(bank.Tokenizer, texts.Select(t => GlueFineTune.Data.GlueExample.Classification(t, null, 0)).ToList(), GlueFineTune.Data.GlueTask.Custom("t", ["0", "1"], false, false), 32, bank.Model.Config.VocabSize);

    /// <summary>The gradients of the model's own (live) tensors holding adapter <paramref name="name"/>, plain forward of its rows, mean cross-entropy.</summary>
    private static Dictionary<string, Tensor> AloneGradients(BankModel bank, string name, EncodedDataset data, int[] rows, long[] labels)
    {
        bank.Bank.Activate(name);
        var live = bank.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var p in live.Values)
        {
            p.grad = null;
        }

        TensorBatch batch = data.MakeBatch(rows);
        Tensor logits = bank.Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        nn.functional.cross_entropy(logits, torch.tensor(rows.Select(r => labels[r]).ToArray())).backward();
        return bank.Bank.GetTensors(name).Where(t => t.tensor.requires_grad).ToDictionary(t => t.key, t => live[t.key].grad!.clone());
    }
}
