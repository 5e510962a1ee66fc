using GlueFineTune.Cli;
using GlueFineTune.Data;
using VectorFit.Transformers.Models;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using static TorchSharp.torch;

namespace GlueFineTune.Tests.Training;

/// <summary><c>--pooling cls|pooler|mean</c>: what the head reads and what trains with it.</summary>
[Collection("libtorch")]
public sealed class PoolingTests
{
    private static readonly string[] Sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie"];

    [Fact]
    public void Mean_pooling_averages_the_real_tokens_only()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        model.Pooling = Pooling.Mean;
        var (ids, mask, types) = TinyCheckpoint.Batch();
        using var hidden = model.Encode(ids, mask, types);

        using var pooled = model.PoolHidden(hidden, mask);

        // The definition, element by element: Σ_t mask[b,t]·h[b,t,d] / Σ_t mask[b,t].
        float[] h = hidden.data<float>().ToArray();
        long[] m = mask.data<long>().ToArray();
        int batch = (int)hidden.shape[0], length = (int)hidden.shape[1], width = (int)hidden.shape[2];
        float[] actual = pooled.data<float>().ToArray();
        for (int b = 0; b < batch; b++)
        {
            int count = Enumerable.Range(0, length).Count(t => m[(b * length) + t] == 1);
            for (int d = 0; d < width; d++)
            {
                double sum = Enumerable.Range(0, length).Where(t => m[(b * length) + t] == 1).Sum(t => (double)h[(((b * length) + t) * width) + d]);
                actual[(b * width) + d].Should().BeApproximately((float)(sum / count), 1e-5f);
            }
        }
    }

    [Fact]
    public void Cls_pooling_is_the_first_hidden_state()
    {
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        model.Pooling = Pooling.Cls;
        var (ids, mask, types) = TinyCheckpoint.Batch();
        using var hidden = model.Encode(ids, mask, types);

        using var pooled = model.PoolHidden(hidden, mask);

        using var first = hidden.select(1, 0);
        pooled.allclose(first, rtol: 0, atol: 0).Should().BeTrue();
    }

    [Theory]
    [InlineData("pooler", true)]
    [InlineData("cls", false)]
    [InlineData("mean", false)]
    public void A_checkpoints_pooler_trains_with_the_head_only_when_it_is_used(string name, bool poolerTrains)
    {
        PoolingNames.TryParse(name, out Pooling pooling).Should().BeTrue();
        using var dir = new TempDirectory();
        var log = new StringWriter();
        using var session = Session(dir.Path, pooling, log);
        Tensor before = session.Model.state_dict()["bert.pooler.dense.weight"].clone();

        new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false).Run(CancellationToken.None);

        var trained = session.Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        trained.Any(n => n.StartsWith("bert.pooler.", StringComparison.Ordinal)).Should().Be(poolerTrains);
        trained.Should().Contain("classifier.weight");
        session.Model.state_dict()["bert.pooler.dense.weight"].allclose(before, rtol: 0, atol: 0).Should().Be(!poolerTrains, "a trained pooler moves, an unused one does not");
        log.ToString().Should().Contain($"pooling: {PoolingNames.Name(pooling)}")
            .And.Contain(poolerTrains ? "bert.pooler starts from the checkpoint and trains" : "bert.pooler is not used");
        before.Dispose();
    }

    [Fact]
    public void An_unknown_pooling_is_a_usage_error_naming_the_choices()
    {
        var cli = CliParser.Parse(["--pooling", "max"]);

        var act = () => OptionResolver.Build(cli, GlueTask.Sst2, "m", "o", AvfPresets.Get("SST-2"), "test");

        act.Should().Throw<UsageException>().WithMessage("--pooling \"max\" is unknown; use cls, pooler, mean.");
    }

    private static TrainingSession Session(string root, Pooling pooling, TextWriter log)
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
            Variant = VectorFitVariant.NoAvf,
            Pooling = pooling,
            Epochs = 1,
            BatchSize = 2,
            LearningRate = 1e-2,
            Avf = AvfOptions.None,
            MaxSteps = 2,
        };
        return TrainingSession.Create(options, examples, examples, log);
    }
}
