using GlueFineTune.Training;

namespace GlueFineTune.Tests.Training;

public sealed class TrainingHelpersTests
{
    [Fact]
    public void LinearScheduleStartsAtTheRateAndDecaysToAlmostZero()
    {
        LearningRates.At(LearningRateSchedule.Linear, 1e-3, 1, 100).Should().Be(1e-3);
        LearningRates.At(LearningRateSchedule.Linear, 1e-3, 51, 100).Should().BeApproximately(5e-4, 1e-15);
        LearningRates.At(LearningRateSchedule.Linear, 1e-3, 100, 100).Should().BeApproximately(1e-5, 1e-15);
        LearningRates.At(LearningRateSchedule.Constant, 1e-3, 100, 100).Should().Be(1e-3);
    }

    [Fact]
    public void EpochOrderIsAPermutationThatDependsOnlyOnSeedAndEpoch()
    {
        int[] first = EpochOrder.Permutation(50, seed: 42, epoch: 0);

        first.Order().Should().Equal(Enumerable.Range(0, 50));
        EpochOrder.Permutation(50, 42, 0).Should().Equal(first);
        EpochOrder.Permutation(50, 42, 1).Should().NotEqual(first);
        EpochOrder.Permutation(50, 43, 0).Should().NotEqual(first);
        EpochOrder.StepSeed(42, 7).Should().Be(EpochOrder.StepSeed(42, 7)).And.NotBe(EpochOrder.StepSeed(42, 8));
    }

    [Fact]
    public void ProgressLineShowsStepLossRateThroughputAndEta()
    {
        var display = new ProgressDisplay(TextWriter.Null, interactive: false, batchSize: 32, firstStep: 0);

        string line = display.Format(new ProgressSample(Step: 50, TotalSteps: 200, Epoch: 2, Epochs: 8, Loss: 0.4321, LearningRate: 7.5e-4, Frozen: 5), TimeSpan.FromSeconds(10));

        line.Should().Be("epoch 2/8 | step  50/200 | loss 0.4321 | lr 0.00075 | 160.0 ex/s | ETA 0:30 | frozen 5");
        display.Format(new ProgressSample(Step: 50, TotalSteps: 200, Epoch: 2, Epochs: 8, Loss: 0.4321, LearningRate: 2e-2, Frozen: 0), TimeSpan.FromSeconds(10))
            .Should().Contain("| lr 0.02 |", "the demo's rate reads as a plain number, not 2.00E-002");
    }

    [Fact]
    public void ProgressPrintsAboutTwentyLinesWhenRedirected()
    {
        var writer = new StringWriter();
        var display = new ProgressDisplay(writer, interactive: false, batchSize: 1, firstStep: 0);

        for (int step = 1; step <= 200; step++)
        {
            display.Report(new ProgressSample(step, 200, 1, 1, 0.5, 1e-3, 0));
        }

        writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.Should().BeInRange(18, 22);
    }
}
