using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using VectorFit;
using VectorFit.Adapters;

namespace GlueFineTune.Tests.Training;

/// <summary><c>--method vectorfit|svft|full</c> on the same data, and the AVF schedule in epochs.</summary>
[Collection("libtorch")]
public sealed class MethodTests
{
    private static readonly string[] Sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie"];

    [Fact]
    public void Full_fine_tuning_trains_every_weight_and_writes_the_same_outputs()
    {
        using var dir = new TempDirectory();
        var log = new StringWriter();
        using var session = Session(dir.Path, FineTuningMethod.Full, log);
        var before = session.Model.state_dict()["bert.embeddings.word_embeddings.weight"].clone();

        TrainingOutcome outcome = new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);
        RunOutputs outputs = RunOutputs.Write(session);

        session.Surgery.Layers.Should().BeEmpty();
        session.Model.parameters().Should().OnlyContain(p => p.requires_grad, "full fine-tuning trains every weight");
        session.Avf.Vectors.Should().BeEmpty();
        session.Model.state_dict()["bert.embeddings.word_embeddings.weight"].allclose(before, rtol: 0, atol: 0).Should().BeFalse("the embeddings train too");
        outcome.Completed.Should().BeTrue();
        File.Exists(outputs.Weights).Should().BeTrue();
        MetricsLog.FromJson(File.ReadAllText(outputs.Metrics)).Method.Should().Be("full");
        before.Dispose();
    }

    /// <summary>Issue 19: full fine-tuning's encoder is not a "head" nor its whole-model output an "adapter"; no AVF files either.</summary>
    [Fact]
    public void Full_fine_tuning_names_the_encoder_and_its_weights_and_writes_no_avf_files()
    {
        using var dir = new TempDirectory();
        var log = new StringWriter();
        using var session = Session(dir.Path, FineTuningMethod.Full, log);
        new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);

        RunOutputs outputs = RunOutputs.Write(session);

        log.ToString().Should().Contain("full: every weight trains (").And.Contain("): the encoder (bert) and the head (classifier)")
            .And.NotContain("adapted layers").And.NotContain("head (bert");
        Path.GetFileName(outputs.Weights).Should().Be("finetuned.safetensors");
        string described = string.Join("\n", outputs.Describe());
        described.Should().Contain("fine-tuned weights").And.NotContain("adapter").And.NotContain("AVF");
        Directory.GetFiles(Path.Combine(dir.Path, "out")).Select(Path.GetFileName).Should().BeEquivalentTo("finetuned.safetensors", "metrics.json");
        MetricsLog.FromJson(File.ReadAllText(outputs.Metrics)).Variant.Should().BeNull("variants are VectorFit's");
    }

    /// <summary>Issue 19: SVFT has no AVF vectors, so no empty AVF CSVs nor an empty heat map; nothing calls it "variant VectorFit". The labels file (issue 21) names the classes for `predict`.</summary>
    [Fact]
    public void Svft_writes_only_what_applies_and_is_not_called_a_vectorfit_variant()
    {
        using var dir = new TempDirectory();
        var log = new StringWriter();
        using var session = Session(dir.Path, FineTuningMethod.Svft, log);
        new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);

        RunOutputs outputs = RunOutputs.Write(session);

        Directory.GetFiles(Path.Combine(dir.Path, "out")).Select(Path.GetFileName).Should().BeEquivalentTo("adapter.safetensors", "adapter.labels.json", "metrics.json");
        string.Join("\n", outputs.Describe()).Should().Contain("adapter").And.NotContain("AVF");
        VectorFitAdapter.ReadInfo(outputs.Weights).ToString().Should().Contain("method Svft").And.NotContain("variant");
        log.ToString().Should().NotContain("variant: VectorFit");
        MetricsLog.FromJson(File.ReadAllText(outputs.Metrics)).Variant.Should().BeNull();
    }

    [Fact]
    public void Svft_adapts_the_layers_with_its_pattern_and_no_avf()
    {
        using var dir = new TempDirectory();
        var log = new StringWriter();
        using var session = Session(dir.Path, FineTuningMethod.Svft, log);

        new GlueTrainer(session, log, TextWriter.Null, false).Run(CancellationToken.None);

        session.Surgery.Method.Should().Be(AdaptationMethod.Svft);
        session.Surgery.Layers.Should().HaveCount(12);
        session.Model.modules().OfType<SvftLinear>().Should().HaveCount(12);
        session.Avf.Options.Enabled.Should().BeFalse();
        log.ToString().Should().Contain("AVF: does not apply to --method svft");
    }

    [Theory]
    [InlineData("--method lora", "--method \"lora\" is unknown; use vectorfit, svft, full.")]
    [InlineData("--svft-pattern banded:2", "--svft-pattern applies to --method svft only.")]
    [InlineData("--method svft --svft-pattern diagonal", "--svft-pattern \"diagonal\" is unknown*")]
    [InlineData("--method full --variant sigma", "--variant sigma is one of VectorFit's ablations; it does not apply to --method full.")]
    [InlineData("--avf-start-epoch 1 --t-i 5", "give the AVF schedule in steps (--t-i, --t-f) or in epochs*")]
    public void Method_options_are_checked(string commandLine, string message)
    {
        var cli = CliParser.Parse(commandLine.Split(' '));

        var act = () => OptionResolver.Build(cli, GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test");

        act.Should().Throw<UsageException>().WithMessage(message);
    }

    [Theory]
    [InlineData("--factor-dtype bfloat16", TorchSharp.torch.ScalarType.BFloat16)]
    [InlineData("--factor-dtype=float16", TorchSharp.torch.ScalarType.Float16)]
    [InlineData("--factor-dtype BF16", TorchSharp.torch.ScalarType.BFloat16)]
    [InlineData("--factor-dtype float32", null)]
    [InlineData("--epochs 1", null)]
    public void Factor_dtype_reaches_the_surgery_config(string commandLine, TorchSharp.torch.ScalarType? expected)
    {
        var options = OptionResolver.Build(CliParser.Parse(commandLine.Split(' ')), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test");

        options.FactorDType.Should().Be(expected);
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        TrainingSession.SurgeryConfig(model, options, ["classifier"]).FactorDType.Should().Be(expected);
    }

    [Theory]
    [InlineData("--factor-dtype int8", "--factor-dtype \"int8\" is unknown; use float32, bfloat16, float16.")]
    [InlineData("--method svft --factor-dtype bfloat16", "--factor-dtype bfloat16 applies to --method vectorfit only*")]
    public void Factor_dtype_is_checked(string commandLine, string message)
    {
        var act = () => OptionResolver.Build(CliParser.Parse(commandLine.Split(' ')), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test");

        act.Should().Throw<UsageException>().WithMessage(message);
    }

    [Fact]
    public void Full_fine_tuning_defaults_to_a_full_fine_tuning_learning_rate_unless_lr_is_given()
    {
        OptionResolver.Build(CliParser.Parse(["--method", "full"]), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test").LearningRate.Should().Be(2e-5);
        OptionResolver.Build(CliParser.Parse(["--method", "full", "--lr", "1e-4"]), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test").LearningRate.Should().Be(1e-4);
        OptionResolver.Build(CliParser.Parse(["--method", "svft"]), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test").LearningRate.Should().Be(1e-3);
    }

    [Fact]
    public void Avf_schedule_in_epochs_becomes_steps_and_is_capped_to_what_fits()
    {
        var options = OptionResolver.Build(CliParser.Parse(["--avf-start-epoch", "1.5", "--avf-every-epochs", "0.5", "--n-f", "9", "--epochs", "4"]), GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test");

        AvfOptions schedule = options.AvfSchedule(stepsPerEpoch: 10);

        // Steps 15, 20, 25, 30, 35, 40: six fit in 4 epochs of 10 steps, so n_f 9 is capped to 6.
        schedule.Should().BeEquivalentTo(new { InitialStep = 15L, Interval = 5L, AvfSteps = 6 }, o => o.ExcludingMissingMembers());
        FluentActions.Invoking(() => (options with { Epochs = 1 }).AvfSchedule(stepsPerEpoch: 10)).Should().Throw<ArgumentException>()
            .WithMessage("--avf-start-epoch 1.5 is at or past the end of training (1 epoch of 10 steps); lower it, train longer (--epochs), or turn AVF off with --n-f 0.");
    }

    private static TrainingSession Session(string root, FineTuningMethod method, TextWriter log)
    {
        string model = Path.Combine(root, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert()))
        {
            TinyCheckpoint.Write(model, source);
        }

        var examples = Sentences.Select(s => GlueExample.Classification(s, null, s.Contains("good") || s.Contains("great") ? 1 : 0)).ToList();
        var options = new TrainingOptions
        {
            Task = GlueTask.Sst2,
            ModelDirectory = model,
            OutputDirectory = Path.Combine(root, "out"),
            Method = method,
            Epochs = 1,
            BatchSize = 2,
            LearningRate = 1e-2,
            Avf = new AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 1, K = 2 },
            MaxSteps = 2,
        };
        return TrainingSession.Create(options, examples, examples, log);
    }
}
