using System.Text.Json;
using GlueFineTune.Data;
using GlueFineTune.Metrics;

namespace GlueFineTune.Tests.Data;

/// <summary><c>--train FILE --dev FILE</c>: TSV, CSV and JSONL files, labels as names or numbers, pairs and regression.</summary>
public sealed class CustomDataTests
{
    [Fact]
    public void Tsv_with_label_names_becomes_a_classification_task_with_sorted_classes()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.tsv", "text\tlabel\nI loved it\tpos\nawful\tneg\ngreat\tpos\n");
        string dev = dir.Write("dev.tsv", "text\tlabel\nbad\tneg\n");

        CustomData data = CustomDataReader.Load(train, dev, new CustomColumns(), regression: false);

        data.Task.LabelNames.Should().Equal("neg", "pos");
        data.Task.IsPair.Should().BeFalse();
        data.Train.Select(e => (e.First, e.Label, e.LineNumber)).Should().Equal(("I loved it", 1, 2), ("awful", 0, 3), ("great", 1, 4));
        data.Dev.Single().Label.Should().Be(0);
    }

    [Fact]
    public void Csv_pairs_with_quoted_multiline_fields_and_numeric_labels_are_read_by_numeric_order()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.csv", "id,sentence1,sentence2,label\r\n1,\"Hello, world\",\"a \"\"quoted\"\"\nsecond line\",10\r\n2,b,c,2\r\n3,d,e,10\r\n");
        string dev = dir.Write("dev.csv", "id,sentence1,sentence2,label\n4,x,y,2\n");

        CustomData data = CustomDataReader.Load(train, dev, new CustomColumns(), regression: false);

        data.Task.IsPair.Should().BeTrue();
        data.Task.LabelNames.Should().Equal("2", "10");
        data.Train[0].Should().BeEquivalentTo(new { First = "Hello, world", Second = "a \"quoted\"\nsecond line", Label = 1, LineNumber = 2 });
        data.Train[1].LineNumber.Should().Be(4, "the quoted field spans two lines");
    }

    [Fact]
    public void Jsonl_with_numbers_is_read_for_regression()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.jsonl", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"score\": 3.5}\n\n{\"premise\": \"c\", \"hypothesis\": \"d\", \"score\": 1}\n");
        string dev = dir.Write("dev.jsonl", "{\"premise\": \"e\", \"hypothesis\": \"f\", \"score\": 0.25}\n");

        CustomData data = CustomDataReader.Load(train, dev, new CustomColumns(), regression: true);

        data.Task.IsRegression.Should().BeTrue();
        data.Task.Metrics.Should().Equal(GlueMetric.Pearson, GlueMetric.Spearman);
        data.Train.Select(e => (e.First, e.Second, e.Score, e.LineNumber)).Should().Equal(("a", "b", 3.5f, 1), ("c", "d", 1f, 3));
        data.Dev.Single().Score.Should().Be(0.25f);
    }

    [Theory]
    [InlineData("dev.tsv", "text\tlabel\nfine\tpos\nodd\tmaybe\n", "*dev.tsv, line 3: label \"maybe\" does not occur in the training file (its labels: neg, pos)*")]
    [InlineData("dev.tsv", "text\tlabel\nfine\tpos\ttoo many\n", "*dev.tsv, line 2: 3 fields but the header has 2 (text, label)*")]
    [InlineData("dev.tsv", "text\tlabel\n\tpos\n", "*dev.tsv, line 2: the text column \"text\" is empty*")]
    [InlineData("dev.jsonl", "{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": }\n", "*dev.jsonl, line 2: not valid JSON*")]
    [InlineData("dev.csv", "text,label\n\"never closed,pos\n", "*dev.csv, line 2: a quoted field is never closed*")]
    [InlineData("dev.tsv", "sentence\tlabel\nfine\tpos\n", "*dev.tsv: no column \"text\", which *train.tsv has*")]
    [InlineData("dev.txt", "whatever", "*dev.txt: unknown format \".txt\"*")]
    public void Bad_files_are_reported_with_file_line_and_fix(string name, string content, string message)
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.tsv", "text\tlabel\ngood\tpos\nbad\tneg\n");
        string dev = dir.Write(name, content);

        var act = () => CustomDataReader.Load(train, dev, new CustomColumns(), regression: false);

        act.Should().Throw<Exception>().Where(e => e is GlueFormatException || e is InvalidDataException).WithMessage(message);
    }

    [Fact]
    public void A_missing_label_column_names_the_option_to_set_it()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.tsv", "text\tsentiment\ngood\tpos\n");

        var act = () => CustomDataReader.Load(train, train, new CustomColumns(), regression: false);

        act.Should().Throw<InvalidDataException>().WithMessage("*none of the columns label, labels, score is there (columns: text, sentiment); name the column with --label-column NAME.");
    }

    [Fact]
    public void Regression_rejects_a_label_that_is_not_a_number_with_its_line()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.tsv", "text\tlabel\ngood\t1.5\nbad\thigh\n");

        var act = () => CustomDataReader.Load(train, train, new CustomColumns(), regression: true);

        act.Should().Throw<GlueFormatException>().WithMessage("*train.tsv, line 3: label \"high\" is not a number*");
    }

    [Fact]
    public void Custom_metrics_are_accuracy_macro_f1_mcc_and_per_class_f1()
    {
        GlueTask task = GlueTask.Custom("custom", ["a", "b", "c"], isPair: false, regression: false);
        int[] gold = [0, 0, 1, 1, 2, 2];
        int[] predicted = [0, 1, 1, 1, 2, 0];

        TaskEvaluation evaluation = GlueEvaluator.EvaluateClassification(task, predicted, gold);

        // By hand: class a TP1 FP1 FN1 → F1 0.5; b TP2 FP1 FN0 → 0.8; c TP1 FP0 FN1 → 2/3.
        var values = evaluation.ToDictionary();
        values.Keys.Should().Equal("accuracy", "macro_f1", "matthews_correlation", "f1_a", "f1_b", "f1_c");
        values["accuracy"].Should().BeApproximately(4.0 / 6, 1e-12);
        values["f1_a"].Should().BeApproximately(0.5, 1e-12);
        values["f1_b"].Should().BeApproximately(0.8, 1e-12);
        values["f1_c"].Should().BeApproximately(2.0 / 3, 1e-12);
        values["macro_f1"].Should().BeApproximately((0.5 + 0.8 + (2.0 / 3)) / 3, 1e-12);
        // Multi-class MCC (Gorodkin): c·s − Σ p_k t_k over √((s² − Σ p_k²)(s² − Σ t_k²)) with c 4, s 6, p (2,3,1), t (2,2,2).
        values["matthews_correlation"].Should().BeApproximately(((4.0 * 6) - 12) / Math.Sqrt((36 - 14) * (36 - 12)), 1e-12);
    }
}

[Collection("libtorch")]
public sealed class CustomDataProgramTests
{
    [Fact]
    public void Program_trains_on_custom_files_and_writes_the_custom_metrics()
    {
        using var dir = new TempDirectory();
        string model = Path.Combine(dir.Path, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert()))
        {
            TinyCheckpoint.Write(model, source);
        }

        string train = dir.Write("train.jsonl", string.Join("\n", Enumerable.Range(0, 8).Select(i => JsonSerializer.Serialize(new { text = i % 2 == 0 ? "the movie was good" : "a bad film", label = i % 2 == 0 ? "pos" : "neg" }))));
        string output = Path.Combine(dir.Path, "out");

        int code = Program.Main(["--train", train, "--dev", train, "--model", model, "--output", output, "--epochs", "2", "--batch-size", "4", "--pooling", "mean", "--threads", "1"]);

        code.Should().Be(0);
        using JsonDocument metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        metrics.RootElement.GetProperty("task").GetString().Should().Be("custom");
        var dev = metrics.RootElement.GetProperty("epochs")[1].GetProperty("dev");
        dev.EnumerateObject().Select(p => p.Name).Should().Equal("accuracy", "macro_f1", "matthews_correlation", "f1_neg", "f1_pos");
    }

    [Fact]
    public void Program_trains_a_pair_regression_on_custom_csv_and_reports_correlations()
    {
        using var dir = new TempDirectory();
        string model = Path.Combine(dir.Path, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: 1))
        {
            TinyCheckpoint.Write(model, source);
        }

        string train = dir.Write("train.csv", "sentence1,sentence2,score\n" + string.Join("\n", Enumerable.Range(0, 8).Select(i => $"the movie was good,\"a film, {(i % 2 == 0 ? "great" : "bad")}\",{i % 4}.5")) + "\n");
        string output = Path.Combine(dir.Path, "out");

        int code = Program.Main(["--train", train, "--dev", train, "--regression", "--model", model, "--output", output, "--epochs", "1", "--batch-size", "4", "--threads", "1"]);

        code.Should().Be(0);
        using JsonDocument metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        metrics.RootElement.GetProperty("main_metric").GetString().Should().Be("pearson");
        metrics.RootElement.GetProperty("epochs")[0].GetProperty("dev").EnumerateObject().Select(p => p.Name).Should().Equal("pearson", "spearman");
    }

    [Fact]
    public void Program_reports_a_bad_custom_file_with_its_line_and_exit_code_1()
    {
        using var dir = new TempDirectory();
        string model = Path.Combine(dir.Path, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert()))
        {
            TinyCheckpoint.Write(model, source);
        }

        string train = dir.Write("train.tsv", "text\tlabel\ngood\tpos\nbad\tneg\n");
        string dev = dir.Write("dev.tsv", "text\tlabel\nfine\tpos\nodd\tmaybe\n");
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        int code;
        try
        {
            code = Program.Main(["--train", train, "--dev", dev, "--model", model, "--output", Path.Combine(dir.Path, "out")]);
        }
        finally
        {
            Console.SetError(previous);
        }

        code.Should().Be(1);
        error.ToString().Should().StartWith($"error: {dev}, line 3: label \"maybe\"");
        Directory.Exists(Path.Combine(dir.Path, "out")).Should().BeFalse("nothing is written before the data is read");
    }
}
