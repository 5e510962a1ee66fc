using GlueFineTune.Data;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;

namespace GlueFineTune.Tests;

/// <summary>
/// The sample's behaviour where it rests on a TorchSharp behaviour that no other test pins down (these replace the
/// tests of the removed offline binding): the learning-rate schedule reaches AdamW only through
/// <c>ParamGroup.LearningRate</c>, which the trainer sets before every step.
/// </summary>
[Collection("libtorch")]
public sealed class TorchSharpRelianceTests
{
    private const double LearningRate = 1e-2;

    private static readonly string[] Sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film .", "the movie was awful"];

    /// <summary>
    /// Linear decay over 4 steps gives step 2 three quarters of the rate, the constant schedule the full rate. Both
    /// runs are identical up to step 1 (same rate) and take step 2 from the same parameters, gradients and AdamW
    /// moments, so step 2's update under linear decay must be exactly 3/4 of the constant one: AdamW has to use the
    /// rate the trainer writes into its parameter group, not the one it was constructed with.
    /// </summary>
    [Fact]
    public void ScheduledLearningRate_ScalesAdamWsUpdate()
    {
        var linear = TrainedValues(LearningRateSchedule.Linear);
        var constant = TrainedValues(LearningRateSchedule.Constant);

        linear.Initial.Should().Equal(constant.Initial);
        linear.AfterStep1.Should().Equal(constant.AfterStep1, "step 1 runs at the full rate under both schedules");
        linear.AfterStep1.Should().NotEqual(linear.Initial, "step 1 trains");

        var expectedRatio = LearningRates.At(LearningRateSchedule.Linear, LearningRate, 2, 4) / LearningRate;
        expectedRatio.Should().Be(0.75);
        double linearSum = 0, constantSum = 0;
        for (var i = 0; i < linear.AfterStep1.Length; i++)
        {
            var linearUpdate = linear.AfterStep2[i] - linear.AfterStep1[i];
            var constantUpdate = constant.AfterStep2[i] - constant.AfterStep1[i];
            linearUpdate.Should().BeApproximately(expectedRatio * constantUpdate, 1e-6 + (1e-3 * Math.Abs(constantUpdate)), $"element {i} of the trained tensors");
            linearSum += Math.Abs(linearUpdate);
            constantSum += Math.Abs(constantUpdate);
        }

        constantSum.Should().BeGreaterThan(1e-3, "step 2 must move the trained tensors for the ratio to mean anything");
        (linearSum / constantSum).Should().BeApproximately(expectedRatio, 1e-4);
    }

    /// <summary>The trained tensors (AdamW's parameters, flattened) before training and after steps 1 and 2 of a 4-step run.</summary>
    private static (double[] Initial, double[] AfterStep1, double[] AfterStep2) TrainedValues(LearningRateSchedule schedule)
    {
        using var dir = new TempDirectory();
        using var session = Session(dir.Path, schedule);
        var initial = Snapshot(session);
        double[] afterStep1 = [];
        double[] afterStep2 = [];
        var trainer = new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false)
        {
            AfterStep = step =>
            {
                if (step == 1)
                {
                    afterStep1 = Snapshot(session);
                }
                else if (step == 2)
                {
                    afterStep2 = Snapshot(session);
                }
            },
        };

        trainer.Run(CancellationToken.None).Step.Should().Be(4);
        return (initial, afterStep1, afterStep2);
    }

    private static double[] Snapshot(TrainingSession session)
        => session.Optimizer.parameters().SelectMany(p =>
        {
            using var host = p.detach().to(torch.ScalarType.Float64).reshape(-1);
            return host.data<double>().ToArray();
        }).ToArray();

    private static TrainingSession Session(string root, LearningRateSchedule schedule)
    {
        string model = Path.Combine(root, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: GlueTask.Sst2.NumLabels))
        {
            TinyCheckpoint.Write(model, source);
        }

        var examples = Sentences.Select(s => GlueExample.Classification(s, null, s.Contains("good") || s.Contains("great") ? 1 : 0)).ToList();
        var options = new TrainingOptions
        {
            Task = GlueTask.Sst2,
            ModelDirectory = model,
            OutputDirectory = Path.Combine(root, "out"),
            Variant = VectorFitVariant.NoAvf,
            Epochs = 100,
            BatchSize = 4,
            LearningRate = LearningRate,
            Schedule = schedule,
            Avf = AvfOptions.None,
            MaxSteps = 4,
        };
        return TrainingSession.Create(options, examples, examples, TextWriter.Null);
    }
}
