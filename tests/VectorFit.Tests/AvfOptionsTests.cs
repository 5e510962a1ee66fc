namespace VectorFit.Tests;

/// <summary>AVF schedule options: validation messages, the step convention, the epoch helper and the paper's presets.</summary>
[Collection("libtorch")]
public sealed class AvfOptionsTests
{
    private static readonly AvfOptions Valid = new() { InitialStep = 3, Interval = 2, AvfSteps = 3 };

    [Fact]
    public void Defaults_AreThePapers()
    {
        Valid.K.Should().Be(5);
        Valid.Beta.Should().Be(0.99);
        Valid.Enabled.Should().BeTrue();
        AvfOptions.None.Enabled.Should().BeFalse();
        AvfOptions.None.LastAvfStep.Should().BeNull();
        Valid.Validate();
        AvfOptions.None.Validate();
    }

    [Fact]
    public void AvfSteps_AreInitialStepPlusMultiplesOfInterval_CountedFromOne()
    {
        var avfSteps = Enumerable.Range(1, 12).Where(t => Valid.IsAvfStep(t)).ToArray();

        avfSteps.Should().Equal(3, 5, 7);
        Valid.LastAvfStep.Should().Be(7);
        AvfOptions.None.IsAvfStep(1).Should().BeFalse();
        new AvfOptions { InitialStep = 1, Interval = 10, AvfSteps = 1 }.IsAvfStep(1).Should().BeTrue();
    }

    public static TheoryData<AvfOptions, string, string> InvalidOptions => new()
    {
        { Valid with { AvfSteps = -1 }, "AvfSteps", "AvfSteps (n_f) must be 0 (no AVF) or more, got -1*" },
        { Valid with { InitialStep = 0 }, "InitialStep", "InitialStep (t_i) must be at least 1*got 0*11 epochs*" },
        { Valid with { Interval = 0 }, "Interval", "Interval (t_f) must be at least 1 step, got 0*one epoch*" },
        { Valid with { K = -2 }, "K", "K must be 0 or more*got -2*uses 5*" },
        { Valid with { Beta = 1.0 }, "Beta", "Beta must be in [0, 1), got 1*uses 0.99*" },
        { Valid with { Beta = -0.1 }, "Beta", "Beta must be in [0, 1), got -0.1*" },
        { Valid with { Beta = double.NaN }, "Beta", "Beta must be in [0, 1), got NaN*" },
        { Valid with { InitialStep = long.MaxValue - 5, Interval = 10 }, "AvfSteps", "*overflows*" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Validate_RejectsBadField_NamingFieldValueAndFix(AvfOptions options, string field, string message)
    {
        var act = () => options.Validate();

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message).And.ParamName.Should().Be(field);
    }

    [Fact]
    public void FromEpochs_FollowsThePapersGuidance()
    {
        // 100 steps per epoch, 50 epochs (the paper's RTE run) = 5000 steps: t_i = 11 epochs = 1100, t_f = 1 epoch = 100,
        // AVF steps 1100, 1200, ..., 5000 → (5000 − 1100) / 100 + 1 = 40 of them. (Shorter runs: LibraryTrapTests.)
        var options = AvfOptions.FromEpochs(stepsPerEpoch: 100, totalEpochs: 50);

        options.Should().Be(new AvfOptions { InitialStep = 1100, Interval = 100, AvfSteps = 40, K = 5, Beta = 0.99 });
        options.LastAvfStep.Should().Be(5000);
    }

    [Fact]
    public void FromEpochs_WithExplicitCountAndFractions_RoundsToWholeSteps()
    {
        var options = AvfOptions.FromEpochs(stepsPerEpoch: 78, totalEpochs: 50, avfSteps: 27, initialEpochs: 10.25, intervalEpochs: 0.9, k: 3, beta: 0.9);

        // 10.25 · 78 = 799.5 → 800; 0.9 · 78 = 70.2 → 70 (the paper's RTE setting).
        options.Should().Be(new AvfOptions { InitialStep = 800, Interval = 70, AvfSteps = 27, K = 3, Beta = 0.9 });
    }

    [Fact]
    public void FromEpochs_RejectsScheduleLongerThanTraining()
    {
        var act = () => AvfOptions.FromEpochs(stepsPerEpoch: 100, totalEpochs: 20, avfSteps: 11, initialEpochs: 11);

        act.Should().Throw<ArgumentOutOfRangeException>()
            .WithMessage("avfSteps must be at most 10*got 11*")
            .And.ParamName.Should().Be("avfSteps");
    }

    [Fact]
    public void FromEpochs_RejectsAvfStartingAfterTraining()
    {
        var act = () => AvfOptions.FromEpochs(stepsPerEpoch: 100, totalEpochs: 10, initialEpochs: 11);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("initialEpochs (11, step 1100) starts AVF after training ends*leave it null: 4 epochs for this run*");
    }

    [Theory]
    [InlineData(0L, 20.0, "stepsPerEpoch")]
    [InlineData(100L, 0.0, "totalEpochs")]
    [InlineData(100L, double.NaN, "totalEpochs")]
    public void FromEpochs_RejectsBadArguments(long stepsPerEpoch, double totalEpochs, string parameter)
    {
        var act = () => AvfOptions.FromEpochs(stepsPerEpoch, totalEpochs);

        act.Should().Throw<ArgumentOutOfRangeException>().And.ParamName.Should().Be(parameter);
    }

    [Theory]
    [InlineData("MNLI", 7, 20, 32, 1e-3, 135000, 10000, 5)]
    [InlineData("SST-2", 7, 30, 32, 1e-3, 23200, 2100, 10)]
    [InlineData("CoLA", 7, 35, 32, 1e-3, 3000, 200, 5)]
    [InlineData("QQP", 7, 25, 32, 1e-3, 125100, 11000, 10)]
    [InlineData("QNLI", 7, 25, 32, 1e-3, 36000, 3200, 10)]
    [InlineData("RTE", 7, 50, 32, 1e-3, 800, 70, 27)]
    [InlineData("MRPC", 7, 50, 32, 1e-3, 1260, 110, 27)]
    [InlineData("STS-B", 7, 50, 32, 1e-3, 1900, 180, 27)]
    [InlineData("SQuAD v1.1", 9, 20, 16, 1e-3, 60700, 5500, 6)]
    [InlineData("SQuAD v2.0", 9, 20, 16, 1e-3, 90300, 8200, 6)]
    [InlineData("XSum", 11, 30, 64, 1e-3, 35070, 3100, 10)]
    [InlineData("CNN/DailyMail", 11, 30, 64, 1e-3, 31500, 4400, 10)]
    [InlineData("CIFAR10", 13, 20, 128, 1e-3, 3600, 300, 4)]
    [InlineData("GTSRB", 13, 20, 128, 1e-3, 1900, 170, 4)]
    [InlineData("MNIST", 13, 20, 128, 1e-2, 4300, 350, 4)]
    [InlineData("RESISC45", 13, 20, 128, 1e-2, 2300, 200, 4)]
    public void Presets_MatchThePapersTables(string task, int table, int epochs, int batch, double lr, long ti, long tf, int nf)
    {
        var preset = AvfPresets.Get(task);

        preset.Task.Should().Be(task);
        preset.Table.Should().Be(table);
        preset.Epochs.Should().Be(epochs);
        preset.BatchSize.Should().Be(batch);
        preset.LearningRate.Should().Be(lr);
        preset.AvfOptions.Should().Be(new AvfOptions { InitialStep = ti, Interval = tf, AvfSteps = nf, K = 5, Beta = 0.99 });
        preset.AvfOptions.Validate();
    }

    [Fact]
    public void Presets_All_ListsSixteenDistinctTasks()
    {
        AvfPresets.All.Should().HaveCount(16);
        AvfPresets.All.Select(p => p.Task).Should().OnlyHaveUniqueItems();
        AvfPresets.All.Should().Contain(new[] { AvfPresets.Mnli, AvfPresets.Stsb, AvfPresets.SquadV2, AvfPresets.CnnDailyMail, AvfPresets.Resisc45 });
    }

    [Theory]
    [InlineData("sts-b")]
    [InlineData("STSB")]
    [InlineData("Sts B")]
    public void Presets_Get_IgnoresCaseAndPunctuation(string name)
    {
        AvfPresets.Get(name).Should().BeSameAs(AvfPresets.Stsb);
    }

    [Fact]
    public void Presets_Get_UnknownTask_ListsKnownTasks()
    {
        var act = () => AvfPresets.Get("IMDB");

        act.Should().Throw<ArgumentException>().WithMessage("No AVF preset for task 'IMDB'. Known tasks: MNLI, SST-2*RESISC45*AvfOptions.FromEpochs*");
    }
}
