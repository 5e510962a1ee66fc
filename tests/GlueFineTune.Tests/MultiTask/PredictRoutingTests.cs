using GlueFineTune.Cli;
using GlueFineTune.MultiTask;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using static TorchSharp.torch;

namespace GlueFineTune.Tests.MultiTask;

[Collection("libtorch")]
public sealed class PredictRoutingTests
{
    /// <summary>
    /// Rows of two tasks mixed in batches of 3 (padding differs from batch to batch) give, row by row, the logits of the same row
    /// on a fresh model with only that row's adapter loaded (VectorFitAdapter.Load, the plain layers, one row per pass).
    /// Tolerance 1e-5 absolute in float32: the two paths compute the same function in another order (σ gathered per row and
    /// applied between x·V and ·Uᵀ, against the layer's own forward; padded against unpadded rows), so they differ by round-off
    /// only, a few float32 ulps of logits of order 1 after two tiny layers; a wrong adapter or head moves them by ~0.1.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoutedPredictionsEqualEachAdapterLoadedAlone(bool meanPooling)
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path, meanPooling: meanPooling);
        var adapters = MultiTaskFixture.TrainAdapters(dir.Path, model);
        Pooling pooling = meanPooling ? Pooling.Mean : Pooling.Pooler;
        string[] texts = ["the movie was good", "a film", "bad .", "the film was great .", "movie", "an awful movie", "a great film ."];
        var rows = texts.Select((t, i) => new PredictRow(i + 2, $"r{i}", i % 3 == 1 ? "topic" : "sentiment", t, null)).ToList();

        float[][] routed;
        using (var predictor = AdapterPredictor.Open(model, adapters.Select(a => new NamedFile(a.Key, a.Value)).ToList(), pooling, 32))
        {
            routed = predictor.Logits(rows, batchSize: 3);
            predictor.Labels["sentiment"].Should().Equal("neg", "pos");
            predictor.Labels["topic"].Should().Equal("film", "movie");
        }

        var alone = rows.Select(r => AloneLogits(model, adapters[r.Task], pooling, r.Text)).ToList();
        for (int i = 0; i < rows.Count; i++)
        {
            routed[i].Should().HaveCount(2);
            for (int c = 0; c < 2; c++)
            {
                routed[i][c].Should().BeApproximately(alone[i][c], 1e-5f, $"row {i} ({rows[i].Task}), class {c}");
            }
        }

        // The check can fail: the other task's adapter gives other logits for the same row.
        float[] other = AloneLogits(model, adapters["topic"], pooling, texts[0]);
        Math.Abs(other[0] - routed[0][0]).Should().BeGreaterThan(1e-3f);
    }

    [Fact]
    public void BatchPlanGroupsRowsByLength_EveryRowOnce_ShortestFirst_TiesInFileOrder()
    {
        int[] lengths = [40, 5, 64, 5, 12, 64, 7];

        int[][] plan = AdapterPredictor.BatchPlan(lengths, batchSize: 3).ToArray();

        plan.Select(b => b.Length).Should().Equal(3, 3, 1);
        plan.SelectMany(b => b).Should().Equal(1, 3, 6, 4, 0, 2, 5);
        plan.SelectMany(b => b).Should().BeEquivalentTo(Enumerable.Range(0, lengths.Length));
        // Padding: each batch pads to its longest row; in file order the batches would pad to 64, 64 and 7.
        plan.Sum(b => b.Length * b.Max(i => lengths[i]))
            .Should().Be(3 * 7 + 3 * 64 + 1 * 64).And.BeLessThan(3 * 64 + 3 * 64 + 1 * 7);
        FluentActions.Invoking(() => AdapterPredictor.BatchPlan(lengths, 0).ToArray()).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void PredictWritesJsonLinesWithLabelNamesAndNothingOnAnUnknownTask()
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path);
        var adapters = MultiTaskFixture.TrainAdapters(dir.Path, model);
        string input = dir.Write("in.jsonl", "{\"id\": \"a\", \"task\": \"sentiment\", \"text\": \"good film\"}\n{\"id\": \"b\", \"task\": \"topic\", \"text\": \"the movie\"}\n");
        string bad = dir.Write("bad.csv", "id,task,text\n1,topic,a film\n2,sentimnet,good\n");
        string output = Path.Combine(dir.Path, "predictions.jsonl");
        string[] common = ["predict", "--model", model, "--adapter", $"sentiment={adapters["sentiment"]}", "--adapter", $"topic={adapters["topic"]}", "--output", output];

        var unknown = () => PredictCommand.Run(CliParser.Parse([.. common, "--input", bad]), TextWriter.Null, TextWriter.Null);
        unknown.Should().Throw<InvalidDataException>().Which.Message.Should().Contain($"{bad}, line 3: task \"sentimnet\" is not one of the adapters (sentiment, topic)");
        File.Exists(output).Should().BeFalse("nothing is written on an error");

        PredictCommand.Run(CliParser.Parse([.. common, "--input", input]), TextWriter.Null, TextWriter.Null).Should().Be(0);
        string[] lines = File.ReadAllLines(output);
        lines.Should().HaveCount(2);
        lines[0].Should().StartWith("{\"id\":\"a\",\"task\":\"sentiment\",\"label\":\"").And.Contain("\"probabilities\":{\"neg\":");
        lines[1].Should().StartWith("{\"id\":\"b\",\"task\":\"topic\",\"label\":\"").And.Contain("\"film\":");
    }

    [Fact]
    public void AnAdapterOfAnotherBaseIsRefusedAndNothingIsWritten()
    {
        using var dir = new TempDirectory();
        string model = MultiTaskFixture.Checkpoint(dir.Path);
        string other = MultiTaskFixture.Checkpoint(dir.Path, "other", seed: 8);
        var adapters = MultiTaskFixture.TrainAdapters(dir.Path, model);
        string input = dir.Write("in.csv", "task,text\nsentiment,good film\n");
        string output = Path.Combine(dir.Path, "predictions.csv");

        var act = () => PredictCommand.Run(CliParser.Parse(["predict", "--model", other, "--adapter", $"sentiment={adapters["sentiment"]}", "--input", input, "--output", output]), TextWriter.Null, TextWriter.Null);

        act.Should().Throw<AdapterMismatchException>();
        File.Exists(output).Should().BeFalse();
    }

    [Fact]
    public void ProgramReportsPredictErrorsWithoutCrashing()
    {
        using var dir = new TempDirectory();
        string input = dir.Write("in.csv", "task,text\nsentiment,good film\n");
        var error = new StringWriter();
        TextWriter previous = Console.Error;
        Console.SetError(error);
        try
        {
            Program.Main(["predict", "--model", dir.Path, "--adapter", "spam", "--input", input, "--output", Path.Combine(dir.Path, "o.csv")]).Should().Be(UsageException.ExitCode);
            Program.Main(["predict", "--model", dir.Path, "--adapter", $"spam={input}", "--input", input, "--output", Path.Combine(dir.Path, "o.csv")]).Should().Be(1);
        }
        finally
        {
            Console.SetError(previous);
        }

        error.ToString().Should().Contain("--adapter \"spam\" is not NAME=FILE").And.Contain("Run predict --help for its options.");
    }

    private static float[] AloneLogits(string modelDirectory, string adapter, Pooling pooling, string text)
    {
        using var scope = torch.NewDisposeScope();
        ITokenizer tokenizer = TokenizerFactory.FromPretrained(modelDirectory);
        var (model, load) = CheckpointLoader.Load(modelDirectory, 2);
        using (model)
        {
            model.Pooling = pooling;
            var head = model.TrainedHeadPrefixes.Concat(load.InitialisedPrefixes.Where(p => pooling == Pooling.Pooler || p != model.PoolerPrefix))
                .Distinct(StringComparer.Ordinal).Select(p => p.TrimEnd('.')).ToList();
            ModelSurgery.Apply(model, TrainingSession.SurgeryConfig(model, VectorFitVariant.NoAvf, head));
            VectorFitAdapter.Load(model, adapter);
            model.eval();
            var ids = new List<long> { tokenizer.SpecialTokens.Cls };
            ids.AddRange(tokenizer.TokenizeToIds(text).Select(i => (long)i));
            ids.Add(tokenizer.SpecialTokens.Sep);
            using var noGrad = torch.no_grad();
            Tensor input = torch.tensor(ids.ToArray(), [1, ids.Count]);
            Tensor logits = model.call(input, torch.ones_like(input), torch.zeros_like(input));
            return logits.data<float>().ToArray();
        }
    }
}
