using TorchSharp;
using VectorFit.Tests.Models;

namespace VectorFit.Tests;

/// <summary>
/// The AVF traps: a paper preset on a short run freezes nothing, so a scheduler told the run's length says so once (and not when
/// the schedule fits); a scheduler over a model without VectorFit layers (un-adapted, or SVFT) says there is nothing to schedule.
/// </summary>
[Collection("libtorch")]
public sealed class AvfSchedulerFitTests
{
    [Fact]
    public void PresetOnAShortRun_SaysThatAvfFreezesNothing_AndPointsToFromEpochs_WithoutWritingToTheConsole()
    {
        using var model = Adapted();
        var (avf, stderr) = CaptureStandardError(() => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions, totalSteps: 40));

        avf.ScheduleWarning.Should().Be(
            "the AVF schedule does not fit this run: its first AVF step is step 800 (InitialStep, t_i) but the run has 40 steps, so AVF will freeze nothing. " +
            "Build a schedule for this run with AvfOptions.FromEpochs(stepsPerEpoch, epochs): the paper presets (AvfPresets) are for the paper's full-length runs.");
        stderr.Should().BeEmpty("a library reports through ScheduleWarning and leaves the console to the application");
        avf.TotalSteps.Should().Be(40);

        var (_, during) = CaptureStandardError(() => Enumerable.Range(0, 40).Select(_ => avf.step()).ToList());
        during.Should().BeEmpty("stepping does not repeat it");
    }

    [Fact]
    public void ScheduleThatPartlyFits_SaysHowManyAvfStepsFallWithinTheRun()
    {
        using var model = Adapted();
        var (avf, _) = CaptureStandardError(() => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions, totalSteps: 1000));

        // AVF steps 800, 870, 940 fall within 1000 steps; the 27th is at 800 + 26·70 = 2620.
        avf.ScheduleWarning.Should().StartWith("the AVF schedule does not fit this run: only 3 of its 27 AVF steps fall within the run's 1000 steps (the last is at step 2620).");
    }

    [Fact]
    public void ScheduleThatFits_SaysNothing()
    {
        using var model = Adapted();
        var options = AvfOptions.FromEpochs(stepsPerEpoch: 10, totalEpochs: 20);
        var (avf, stderr) = CaptureStandardError(() => AvfScheduler.FromModel(model, options, totalSteps: 200));
        var (unknown, stderrUnknown) = CaptureStandardError(() => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions));

        options.LastAvfStep.Should().Be(200, "FromEpochs fits the schedule to the run, up to its last step");
        avf.ScheduleWarning.Should().BeNull();
        unknown.ScheduleWarning.Should().BeNull("without totalSteps there is nothing to compare with");
        (stderr + stderrUnknown).Should().BeEmpty();
    }

    [Fact]
    public void TotalStepsBelowOne_IsRejected()
    {
        using var model = Adapted();
        var act = () => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions, totalSteps: 0);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("totalSteps must be at least 1*got 0*");
    }

    [Fact]
    public void FromModel_OnAnSvftModel_SaysThereIsNoVectorFitLayerToSchedule()
    {
        using var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Method = new SvftMethod() });
        var act = () => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions);

        act.Should().Throw<ArgumentException>().WithMessage(
            "There is no VectorFit layer to schedule: the model's 12 adapted layer(s) are SvftLinear, and Adaptive Vector Freezing applies to VectorFit layers only.*");
        AvfScheduler.FromModel(model, AvfOptions.None).Vectors.Should().BeEmpty("no AVF needs no layer");
    }

    [Fact]
    public void FromModel_OnAnUnadaptedModel_SaysToApplySurgeryFirst()
    {
        using var model = new TinyBert(seed: 1);
        var act = () => AvfScheduler.FromModel(model, AvfPresets.Rte.AvfOptions);

        act.Should().Throw<ArgumentException>().WithMessage(
            "There is no VectorFit layer to schedule: the model (TinyBert) holds no VectorFitLinear. Call ModelSurgery.Apply(model, config) first*");
    }

    [Fact]
    public void Constructor_WithNoLayers_SaysThereIsNoVectorFitLayerToSchedule()
    {
        var act = () => new AvfScheduler([], AvfPresets.Rte.AvfOptions);

        act.Should().Throw<ArgumentException>().WithMessage("There is no VectorFit layer to schedule: the list of layers is empty.*");
    }

    [Fact]
    public void AvfVector_Parameter_IsTheLayersCurrentVector_EvenAfterModelTo()
    {
        using var model = Adapted();
        var avf = AvfScheduler.FromModel(model, AvfOptions.None);
        var query = model.named_parameters().Single(p => p.name == "encoder.layer.0.attention.self.query.sigma").parameter;
        avf.Vectors[0].Name.Should().Be("encoder.layer.0.attention.self.query.sigma");
        avf.Vectors[0].Parameter.Handle.Should().Be(query.Handle);

        model.to(TorchSharp.torch.ScalarType.Float32);

        var moved = model.named_parameters().Single(p => p.name == "encoder.layer.1.output.dense.bias").parameter;
        var vector = avf.Vectors.Single(v => v.Name == "encoder.layer.1.output.dense.bias");
        vector.Parameter.Handle.Should().Be(moved.Handle);
        vector.Parameter.dtype.Should().Be(TorchSharp.torch.ScalarType.Float32);
    }

    private static TinyBert Adapted()
    {
        var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        return model;
    }

    private static (T Result, string StandardError) CaptureStandardError<T>(Func<T> action)
    {
        var original = Console.Error;
        using var writer = new StringWriter();
        Console.SetError(writer);
        try
        {
            var result = action();
            return (result, writer.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }
}
