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

    /// <summary>
    /// Per-adapter AVF: two tasks with different row counts (8 and 3 of 11 rows, batches of 2) take different numbers of steps, and
    /// each adapter's AVF steps fall on its own steps (the batches with its rows: its 2nd and 3rd here, --t-i 2 --t-f 1 --n-f 2), not
    /// on the global step count. A vector frozen at an adapter's last AVF step keeps its value exactly to the end while the others
    /// move; the saved adapter records the schedule and the AVF steps taken.
    /// </summary>
    [Fact]
    public void EachAdapterFreezesAtItsOwnAvfStepsAndSavesItsAvfState()
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path);
        var (sentiment, _) = MultiTaskFixture.Data(dir.Path);
        string topic = Path.Combine(dir.Path, "data", "topic3.jsonl");
        File.WriteAllLines(topic, ["{\"text\": \"the movie\", \"label\": \"movie\"}", "{\"text\": \"a film\", \"label\": \"film\"}", "{\"text\": \"movie was good\", \"label\": \"movie\"}"]);
        string[] args = [.. MultiTaskFixture.Args(model, Path.Combine(dir.Path, "out"), sentiment, topic, "--t-i", "2", "--t-f", "1", "--n-f", "2", "--k", "3")];
        args[Array.IndexOf(args, "--batch-size") + 1] = "2";
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse(args));
        options.Settings.Variant.Should().Be(VectorFitVariant.VectorFit, "the default variant is VectorFit + AVF, as for a single task");

        MultiTaskTrainer? live = null;
        var ownSteps = new Dictionary<string, List<long>> { ["sentiment"] = [], ["topic"] = [] }; // global step of each of the adapter's steps
        var frozenAfter = new Dictionary<string, List<int>> { ["sentiment"] = [], ["topic"] = [] }; // frozen count after each own step
        var atLastAvf = new Dictionary<string, Dictionary<string, float[]>>(); // values copied out (the step's dispose scope frees its tensors)
        var log = new StringWriter();
        MultiTaskOutcome outcome;
        using (var trainer = new MultiTaskTrainer(options, log)
        {
            AfterAdapterStep = (task, step) =>
            {
                ownSteps[task].Add(step);
                var scheduler = live!.Avf(task);
                scheduler.StepCount.Should().Be(ownSteps[task].Count, $"{task}'s scheduler counts only the batches with its rows");
                frozenAfter[task].Add(scheduler.FrozenSet.Count);
                if (ownSteps[task].Count == 3)
                {
                    atLastAvf[task] = scheduler.Vectors.ToDictionary(v => v.Name, Values);
                }
            },
        })
        {
            live = trainer;
            long sentimentSteps = trainer.AdapterTotalSteps["sentiment"];
            long topicSteps = trainer.AdapterTotalSteps["topic"];
            sentimentSteps.Should().BeGreaterThan(topicSteps, "sentiment has rows in more batches than topic");
            topicSteps.Should().BeGreaterThanOrEqualTo(4, "topic reaches both its AVF steps and trains after them");
            outcome = trainer.Run(TextWriter.Null, false, CancellationToken.None);
            outcome.Completed.Should().BeTrue();

            foreach (string task in new[] { "sentiment", "topic" })
            {
                ownSteps[task].Should().HaveCount((int)trainer.AdapterTotalSteps[task], $"{task} steps in exactly the batches planned for it");
                frozenAfter[task][0].Should().Be(0, $"{task}: nothing is frozen before its own step 2");
                frozenAfter[task].Skip(1).Should().AllSatisfy(n => n.Should().Be(3), $"{task}: k = 3 vectors frozen from its own step 2 on");
                var scheduler = trainer.Avf(task);
                scheduler.AvfStepsTaken.Should().Be(2);
                scheduler.FrozenSet.Should().HaveCount(3).And.AllSatisfy(v => v.Parameter.requires_grad.Should().BeFalse());
                foreach (var vector in scheduler.Vectors)
                {
                    bool same = Values(vector).SequenceEqual(atLastAvf[task][vector.Name]);
                    if (vector.IsFrozen)
                    {
                        same.Should().BeTrue($"{task}: {vector.Name} was frozen at its last AVF step and must not change after it");
                    }
                }

                scheduler.Vectors.Where(v => !v.IsFrozen).Count(v => !Values(v).SequenceEqual(atLastAvf[task][v.Name]))
                    .Should().BeGreaterThan(0, $"{task}: the vectors not frozen keep training after the last AVF step");
                outcome.Metrics[task].Epochs[^1].FrozenVectors.Should().Equal(scheduler.FrozenSet.Select(v => v.Name));

                var info = VectorFitAdapter.ReadInfo(outcome.Adapters[task]);
                info.AvfOptions.Should().Be(scheduler.Options);
                info.AvfStepsTaken.Should().Be(2, $"{task}'s adapter file records its AVF steps");
                File.Exists(Path.Combine(dir.Path, "out", task, "avf_vectors.csv")).Should().BeTrue();
            }

            // The adapters' AVF steps fall on their own 2nd and 3rd steps, which are different global steps for the two tasks.
            ownSteps["sentiment"][1].Should().NotBe(ownSteps["topic"][1], "the two adapters reach their own step 2 at different global steps");
        }

        log.ToString().Should().Contain("AVF sentiment:").And.Contain("AVF topic:").And.Contain("vectors frozen");
    }

    [Fact]
    public void NoAvfVariantFreezesNothingAndSavesWithoutAvf()
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path);
        var adapters = MultiTaskFixture.TrainAdapters(dir.Path, model, "--variant", "no-avf");
        foreach (string path in adapters.Values)
        {
            var info = VectorFitAdapter.ReadInfo(path);
            (info.AvfOptions?.Enabled ?? false).Should().BeFalse("--variant no-avf records no AVF schedule");
            (info.AvfStepsTaken ?? 0).Should().Be(0);
        }
    }

    private static float[] Values(AvfVector vector) => vector.Parameter.detach().to_type(ScalarType.Float32).data<float>().ToArray();

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
