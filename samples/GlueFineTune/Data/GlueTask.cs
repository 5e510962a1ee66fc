using GlueFineTune.Metrics;

namespace GlueFineTune.Data;

/// <summary>
/// How one GLUE task is laid out on disk (folder, files, columns of its TSV files), its label set and
/// the metrics it is judged by. The eight benchmark tasks are <see cref="All"/>; <see cref="Demo"/>
/// describes the built-in <c>--demo</c> dataset.
/// </summary>
internal sealed class GlueTask
{
    private static readonly string[] BinaryLabels = ["0", "1"];
    private static readonly string[] EntailmentLabels = ["entailment", "not_entailment"];

    private GlueTask(string name, string folderName, string devFileName, bool hasHeader, int minimumColumnCount)
    {
        Name = name;
        FolderName = folderName;
        DevFileName = devFileName;
        HasHeader = hasHeader;
        MinimumColumnCount = minimumColumnCount;
    }

    /// <summary>MultiNLI: premise/hypothesis, 3 classes (entailment=0, neutral=1, contradiction=2), accuracy on dev_matched.</summary>
    public static GlueTask Mnli { get; } = new("MNLI", "MNLI", "dev_matched.tsv", hasHeader: true, minimumColumnCount: 11)
    {
        FirstSentenceColumn = 8,
        SecondSentenceColumn = 9,
        LabelColumn = ^1,
        LabelNames = ["entailment", "neutral", "contradiction"],
        ExpectedHeader = [(8, "sentence1"), (9, "sentence2"), (^1, "gold_label")],
        Metrics = [GlueMetric.Accuracy],
    };

    /// <summary>SST-2: one sentence, sentiment 0/1, accuracy.</summary>
    public static GlueTask Sst2 { get; } = new("SST-2", "SST-2", "dev.tsv", hasHeader: true, minimumColumnCount: 2)
    {
        FirstSentenceColumn = 0,
        LabelColumn = 1,
        LabelNames = BinaryLabels,
        ExpectedHeader = [(0, "sentence"), (1, "label")],
        Metrics = [GlueMetric.Accuracy],
    };

    /// <summary>CoLA: one sentence, acceptability 0/1, Matthews correlation. No header: source, label, original label, sentence.</summary>
    public static GlueTask Cola { get; } = new("CoLA", "CoLA", "dev.tsv", hasHeader: false, minimumColumnCount: 4)
    {
        FirstSentenceColumn = 3,
        LabelColumn = 1,
        LabelNames = BinaryLabels,
        Metrics = [GlueMetric.MatthewsCorrelation],
    };

    /// <summary>QQP: question pair, duplicate 0/1, accuracy and F1.</summary>
    public static GlueTask Qqp { get; } = new("QQP", "QQP", "dev.tsv", hasHeader: true, minimumColumnCount: 6)
    {
        FirstSentenceColumn = 3,
        SecondSentenceColumn = 4,
        LabelColumn = 5,
        LabelNames = BinaryLabels,
        ExpectedHeader = [(3, "question1"), (4, "question2"), (5, "is_duplicate")],
        Metrics = [GlueMetric.Accuracy, GlueMetric.F1],
    };

    /// <summary>QNLI: question/sentence, entailment=0 / not_entailment=1, accuracy.</summary>
    public static GlueTask Qnli { get; } = new("QNLI", "QNLI", "dev.tsv", hasHeader: true, minimumColumnCount: 4)
    {
        FirstSentenceColumn = 1,
        SecondSentenceColumn = 2,
        LabelColumn = 3,
        LabelNames = EntailmentLabels,
        ExpectedHeader = [(1, "question"), (2, "sentence"), (3, "label")],
        Metrics = [GlueMetric.Accuracy],
    };

    /// <summary>RTE: sentence pair, entailment=0 / not_entailment=1, accuracy.</summary>
    public static GlueTask Rte { get; } = new("RTE", "RTE", "dev.tsv", hasHeader: true, minimumColumnCount: 4)
    {
        FirstSentenceColumn = 1,
        SecondSentenceColumn = 2,
        LabelColumn = 3,
        LabelNames = EntailmentLabels,
        ExpectedHeader = [(1, "sentence1"), (2, "sentence2"), (3, "label")],
        Metrics = [GlueMetric.Accuracy],
    };

    /// <summary>MRPC: sentence pair, paraphrase 0/1 (the "Quality" column), accuracy and F1.</summary>
    public static GlueTask Mrpc { get; } = new("MRPC", "MRPC", "dev.tsv", hasHeader: true, minimumColumnCount: 5)
    {
        FirstSentenceColumn = 3,
        SecondSentenceColumn = 4,
        LabelColumn = 0,
        LabelNames = BinaryLabels,
        ExpectedHeader = [(0, "Quality"), (3, "#1 String"), (4, "#2 String")],
        Metrics = [GlueMetric.Accuracy, GlueMetric.F1],
    };

    /// <summary>STS-B: sentence pair, similarity score 0–5 (regression), Pearson and Spearman correlation.</summary>
    public static GlueTask Stsb { get; } = new("STS-B", "STS-B", "dev.tsv", hasHeader: true, minimumColumnCount: 10)
    {
        FirstSentenceColumn = 7,
        SecondSentenceColumn = 8,
        LabelColumn = ^1,
        IsRegression = true,
        ExpectedHeader = [(7, "sentence1"), (8, "sentence2"), (^1, "score")],
        Metrics = [GlueMetric.Pearson, GlueMetric.Spearman],
    };

    /// <summary>The built-in <c>--demo</c> sentiment task: one sentence, label 0/1, accuracy; laid out like SST-2.</summary>
    public static GlueTask Demo { get; } = new("DEMO", "DEMO", "dev.tsv", hasHeader: true, minimumColumnCount: 2)
    {
        FirstSentenceColumn = 0,
        LabelColumn = 1,
        LabelNames = BinaryLabels,
        ExpectedHeader = [(0, "sentence"), (1, "label")],
        Metrics = [GlueMetric.Accuracy],
    };

    /// <summary>A task over the user's own files (<c>--train</c>/<c>--dev</c>): accuracy, macro F1, MCC and per-class F1, or Pearson and Spearman.</summary>
    /// <param name="name">The task's name for the log and <c>metrics.json</c>.</param>
    /// <param name="labelNames">The classes, in class-id order (ignored for regression).</param>
    /// <param name="isPair">Whether examples are text pairs.</param>
    /// <param name="regression">Whether the label is a number to predict.</param>
    /// <returns>The task.</returns>
    public static GlueTask Custom(string name, IReadOnlyList<string> labelNames, bool isPair, bool regression) =>
        new(name, name, string.Empty, hasHeader: true, minimumColumnCount: 1)
        {
            FirstSentenceColumn = 0,
            SecondSentenceColumn = isPair ? 1 : null,
            LabelColumn = ^1,
            LabelNames = regression ? [] : [.. labelNames],
            IsRegression = regression,
            IsCustom = true,
            Metrics = regression
                ? [GlueMetric.Pearson, GlueMetric.Spearman]
                : [GlueMetric.Accuracy, GlueMetric.MacroF1, GlueMetric.MatthewsCorrelation, GlueMetric.ClassF1],
        };

    /// <summary>The eight GLUE tasks, in the paper's table order.</summary>
    public static IReadOnlyList<GlueTask> All { get; } = [Mnli, Sst2, Cola, Qqp, Qnli, Rte, Mrpc, Stsb];

    /// <summary>The task's name as GLUE writes it (MNLI, SST-2, CoLA, QQP, QNLI, RTE, MRPC, STS-B).</summary>
    public string Name { get; }

    /// <summary>The task's folder in the GLUE download.</summary>
    public string FolderName { get; }

    /// <summary>The training file name.</summary>
    public string TrainFileName { get; } = "train.tsv";

    /// <summary>The labelled evaluation file name (MNLI: <c>dev_matched.tsv</c>).</summary>
    public string DevFileName { get; }

    /// <summary>Whether the first line of each file is a header (all but CoLA).</summary>
    public bool HasHeader { get; }

    /// <summary>Fewest columns a row has; without a header every row has exactly this many.</summary>
    public int MinimumColumnCount { get; }

    /// <summary>0-based column of the first sentence.</summary>
    public int FirstSentenceColumn { get; private init; }

    /// <summary>0-based column of the second sentence, or <see langword="null"/> for single-sentence tasks.</summary>
    public int? SecondSentenceColumn { get; private init; }

    /// <summary>Column of the label or score (<c>^1</c> = last column).</summary>
    public Index LabelColumn { get; private init; }

    /// <summary>Header names expected at some columns (checked to catch a wrong file early).</summary>
    public IReadOnlyList<(Index Column, string Name)> ExpectedHeader { get; private init; } = [];

    /// <summary>Labels as written in the files; a label's index is its class id. Empty for regression.</summary>
    public IReadOnlyList<string> LabelNames { get; private init; } = [];

    /// <summary>Whether the task reads the user's own files (<see cref="Custom"/>).</summary>
    public bool IsCustom { get; private init; }

    /// <summary>Whether the task is regression (STS-B).</summary>
    public bool IsRegression { get; private init; }

    /// <summary>Lowest valid regression score.</summary>
    public float MinScore => 0f;

    /// <summary>Highest valid regression score.</summary>
    public float MaxScore => 5f;

    /// <summary>Outputs of the classification head: the class count, or 1 for regression.</summary>
    public int NumLabels => IsRegression ? 1 : LabelNames.Count;

    /// <summary>Whether examples are sentence pairs.</summary>
    public bool IsPair => SecondSentenceColumn is not null;

    /// <summary>The metrics reported for the task, main metric first.</summary>
    public IReadOnlyList<GlueMetric> Metrics { get; private init; } = [];

    /// <summary>The metric used for model selection and in the paper's tables (CoLA: MCC, STS-B: Pearson, others: accuracy).</summary>
    public GlueMetric MainMetric => Metrics[0];

    /// <summary>Path of a split's file under the GLUE data folder.</summary>
    /// <param name="glueDirectory">The folder holding the task folders (MNLI/, SST-2/, …).</param>
    /// <param name="split">The split.</param>
    /// <returns>The file path.</returns>
    public string FilePath(string glueDirectory, GlueSplit split)
    {
        ArgumentNullException.ThrowIfNull(glueDirectory);
        return Path.Combine(glueDirectory, FolderName, split == GlueSplit.Train ? TrainFileName : DevFileName);
    }

    /// <summary>Finds a task by name, ignoring case and dashes (<c>sst2</c>, <c>SST-2</c>, <c>stsb</c>, <c>demo</c>).</summary>
    /// <param name="name">The task name.</param>
    /// <param name="task">The task, when found.</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string? name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GlueTask? task)
    {
        string key = Canonical(name ?? string.Empty);
        task = All.Append(Demo).FirstOrDefault(t => Canonical(t.Name) == key);
        return task is not null;
    }

    /// <summary>Finds a task by name, ignoring case and dashes.</summary>
    /// <param name="name">The task name.</param>
    /// <returns>The task.</returns>
    /// <exception cref="ArgumentException">The name is not a GLUE task.</exception>
    public static GlueTask Parse(string name) => TryParse(name, out GlueTask? task)
        ? task
        : throw new ArgumentException(
            $"Unknown GLUE task \"{name}\"; use one of {string.Join(", ", All.Select(t => t.Name))} (case and dashes are ignored).",
            nameof(name));

    /// <inheritdoc />
    public override string ToString() => Name;

    private static string Canonical(string name) =>
        name.Replace("-", string.Empty, StringComparison.Ordinal).Replace("_", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
}
