using GlueFineTune.Data;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;

namespace GlueFineTune.Tests.Training;

[Collection("libtorch")]
public sealed class GlueTrainerTests
{
    private static readonly string[] Sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film .", "the movie was awful"];

    [Fact]
    public void MemoryStaysFlatAcrossSteps()
    {
        // Every tensor a step creates lives in that step's dispose scope: what reaches the caller's scope
        // (setup, the epoch-end evaluation and checkpoint) does not grow with the number of steps.
        long Run(long steps)
        {
            using var dir = new TempDirectory();
            using var outer = torch.NewDisposeScope();
            using var session = Session(dir.Path, GlueTask.Sst2, VectorFitVariant.VectorFit, maxSteps: steps);
            new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None).Step.Should().Be(steps);
            return outer.DisposablesCount;
        }

        long few = Run(2);
        long many = Run(12);

        many.Should().Be(few);
    }

    [Fact]
    public void RegressionTaskTrainsWithMeanSquaredErrorAndReportsCorrelations()
    {
        using var dir = new TempDirectory();
        using var session = Session(dir.Path, GlueTask.Stsb, VectorFitVariant.NoAvf, maxSteps: 4);

        TrainingOutcome outcome = new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);
        RunOutputs outputs = RunOutputs.Write(session);

        outcome.Completed.Should().BeTrue();
        outcome.LastEvaluation!.ToDictionary().Keys.Should().Equal("pearson", "spearman");
        session.Avf.Options.Enabled.Should().BeFalse("only the VectorFit variant uses AVF");
        File.ReadAllText(outputs.StrengthMatrix!).Should().Contain("sigma_q").And.Contain("b_f2");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SigmaVariantTrainsNoBiasVectors(bool deberta)
    {
        using var dir = new TempDirectory();
        using var session = Session(dir.Path, GlueTask.Sst2, VectorFitVariant.Sigma, maxSteps: 2, deberta);

        new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);
        string csv = RunOutputs.Write(session).StrengthMatrix!;

        File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')[0]).Should().Equal("sigma_q", "sigma_k", "sigma_v", "sigma_o", "sigma_f1", "sigma_f2");
    }

    private static TrainingSession Session(string root, GlueTask task, VectorFitVariant variant, long maxSteps, bool deberta = false)
    {
        string model = Path.Combine(root, "model");
        using (var source = TinyCheckpoint.Model(deberta ? TinyCheckpoint.Deberta() : TinyCheckpoint.Bert(), numLabels: task.NumLabels))
        {
            TinyCheckpoint.Write(model, source);
        }

        var examples = Sentences.Select((s, i) => task.IsRegression
            ? GlueExample.Regression(s, Sentences[(i + 1) % Sentences.Length], i % 5)
            : GlueExample.Classification(s, null, s.Contains("good") || s.Contains("great") ? 1 : 0)).ToList();
        var options = new TrainingOptions
        {
            Task = task,
            ModelDirectory = model,
            OutputDirectory = Path.Combine(root, "out"),
            Variant = variant,
            Epochs = 100,
            BatchSize = 4,
            LearningRate = 1e-2,
            Avf = new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 2, K = 2 },
            MaxSteps = maxSteps,
        };
        return TrainingSession.Create(options, examples, examples, TextWriter.Null);
    }
}
