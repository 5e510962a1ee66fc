using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Training;
using VectorFit.Serialization;
using VectorFit.Transformers.Models;

namespace GlueFineTune.MultiTask;

/// <summary>
/// <c>GlueFineTune predict</c>: several adapters on one base model, a JSONL/CSV/TSV file whose rows name their task, the rows of
/// all tasks batched together (<see cref="VectorFit.Adapters.AdapterBank.Route(int[])"/>), predictions written as JSONL or CSV.
/// </summary>
internal static class PredictCommand
{
    /// <summary>The command's name (the first argument).</summary>
    public const string Name = CliParser.PredictVerb;

    /// <summary>The default task column.</summary>
    public const string DefaultTaskColumn = "task";

    /// <summary>The command's help.</summary>
    public const string Help = """
        GlueFineTune predict — predict with several adapters on one base model, rows of different tasks in one batch

        Usage:
          GlueFineTune predict --model CHECKPOINT_DIR --adapter NAME=FILE [--adapter NAME=FILE ...]
                               --input FILE --output FILE [options]

          --model DIR         the checkpoint folder the adapters were trained on (as for training; e.g. the MiniLM import)
          --adapter NAME=FILE an adapter file the training wrote (OUTPUT/adapter.safetensors, or OUTPUT/NAME/adapter.safetensors
                              of multi-task training), under the task name the input's rows use; repeat per task. Class
                              names come from the adapter.labels.json beside it (else the class numbers)
          --input FILE        the rows: .jsonl (one object per line), .csv (header, RFC 4180 quoting) or .tsv (header)
          --output FILE       the predictions: .jsonl ({"id", "task", "label", "probabilities"}) or .csv
                              (id,task,label,probability); written only when every row is predicted
          --text-column NAME  the text (default: the first of text, sentence, sentence1, question, premise)
          --text-pair-column NAME  a second text (default: text_pair, sentence2 or hypothesis if present)
          --task-column NAME  the adapter each row uses (default: task)
          --id-column NAME    the row's id in the output (default: id if present, else the row's line number)
          --batch-size N      rows per forward pass, tasks mixed, rows of similar length together (default 64)
          --max-length N      longest input in tokens (default 128)
          --pooling NAME      as in training (default: the model folder's 1_Pooling/config.json, else pooler)
          --threads N         libtorch CPU threads
          -h, --help          this text

        Every adapter is checked against the base model (the same base fingerprint, layers and head) and every row's task
        against the adapters before anything runs; an error names the file and line, and writes nothing.
        """;

    private static readonly string[] TextDefaults = ["text", "sentence", "sentence1", "question", "premise"];
    private static readonly string[] PairDefaults = ["text_pair", "sentence2", "hypothesis"];

    /// <summary>Parses <paramref name="args"/> (the arguments after <c>predict</c>) and runs the command.</summary>
    /// <param name="args">The arguments after <c>predict</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="progress">Where the progress goes (standard error).</param>
    /// <returns>The exit code (0 done).</returns>
    /// <exception cref="UsageException">The command line is wrong.</exception>
    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter progress) => Run(CliParser.Parse([Name, .. args]), output, progress);

    /// <summary>Runs the command.</summary>
    /// <param name="cli">The parsed command line of <c>predict</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <param name="progress">Where the progress goes (standard error).</param>
    /// <returns>The exit code (0 done).</returns>
    /// <exception cref="UsageException">The command line is wrong.</exception>
    /// <exception cref="InvalidDataException">The input file is malformed (the message names the file and line).</exception>
    public static int Run(CliOptions cli, TextWriter output, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(progress);
        if (cli.Help)
        {
            output.WriteLine(Help);
            return 0;
        }

        string model = cli.Model ?? throw new UsageException("predict: --model DIR is required (the checkpoint folder the adapters were trained on).");
        if (!Directory.Exists(model))
        {
            throw new UsageException($"predict: --model {model} does not exist; pass the checkpoint folder the adapters were trained on.");
        }

        if (cli.Adapters.Count == 0)
        {
            throw new UsageException("predict: pass at least one --adapter NAME=FILE (the task name the input's rows use, and the adapter file).");
        }

        IReadOnlyList<NamedFile> adapters = NamedFile.ParseAll(cli.Adapters, "--adapter", "spam=runs/spam/adapter.safetensors");
        string input = cli.Input ?? throw new UsageException("predict: --input FILE is required (.jsonl, .csv or .tsv with a text and a task column).");
        if (!File.Exists(input))
        {
            throw new UsageException($"predict: --input {input} does not exist.");
        }

        string target = cli.Output ?? throw new UsageException("predict: --output FILE is required (.jsonl or .csv).");
        string format = Path.GetExtension(target).ToLowerInvariant();
        if (format is not (".jsonl" or ".csv"))
        {
            throw new UsageException($"predict: --output {target}: name the file .jsonl or .csv (the format follows the extension).");
        }

        string? folder = Path.GetDirectoryName(Path.GetFullPath(target));
        if (folder is not null && !Directory.Exists(folder))
        {
            throw new UsageException($"predict: --output {target}: the folder {folder} does not exist; create it first.");
        }

        Pooling? folderPooling = cli.Pooling is null ? SentenceTransformersPooling.Read(model) : null;
        Pooling pooling = folderPooling ?? Pooling.Pooler;
        if (cli.Pooling is { } p && !PoolingNames.TryParse(p, out pooling))
        {
            throw new UsageException($"--pooling \"{p}\" is unknown; use {string.Join(", ", PoolingNames.Names)}.");
        }

        if (cli.Threads is { } threads)
        {
            TorchSharp.torch.set_num_threads(threads);
        }

        // Every row is read and checked before the model is built: a bad row costs nothing.
        List<PredictRow> rows = ReadRows(input, cli.TextColumn, cli.TextPairColumn, cli.TaskColumn ?? DefaultTaskColumn, cli.IdColumn, adapters.Select(a => a.Name).ToList());
        int batchSize = cli.BatchSize ?? 64;
        var byTask = rows.GroupBy(r => r.Task).Select(g => $"{g.Key} {g.Count()}");
        output.WriteLine($"predict: {rows.Count} rows from {input} ({string.Join(", ", byTask)}), batches of {batchSize} by length, mixing the tasks");
        var clock = Stopwatch.StartNew();
        using var predictor = AdapterPredictor.Open(model, adapters, pooling, cli.MaxLength ?? 128);
        output.WriteLine($"adapters on one base ({model}, pooling {PoolingNames.Name(pooling)}): {string.Join(", ", adapters.Select(a => $"{a.Name} = {a.Path} [{string.Join(", ", predictor.Labels[a.Name])}]"))}");
        var lastReport = Stopwatch.StartNew();
        float[][] logits = predictor.Logits(rows, batchSize, done =>
        {
            if (lastReport.Elapsed.TotalSeconds >= 2 || done == rows.Count)
            {
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"predict: {done}/{rows.Count} rows ({done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0} rows/s)"));
                lastReport.Restart();
            }
        });
        string text = format == ".jsonl" ? ToJsonLines(rows, logits, predictor.Labels) : ToCsv(rows, logits, predictor.Labels);
        AtomicFile.Write(target, s => s.Write(Encoding.UTF8.GetBytes(text)));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {rows.Count} predictions to {target} in {clock.Elapsed.TotalSeconds:F1} s"));
        return 0;
    }

    /// <summary>Reads and checks the rows: the columns exist, every text is there, every task is one of the adapters.</summary>
    /// <param name="path">The input file.</param>
    /// <param name="textColumn">The text column, or <c>null</c> for the defaults.</param>
    /// <param name="pairColumn">The second text's column, or <c>null</c> for the defaults (if present).</param>
    /// <param name="taskColumn">The task column.</param>
    /// <param name="idColumn">The id column, or <c>null</c> for <c>id</c> if present, else the line number.</param>
    /// <param name="tasks">The adapters' names.</param>
    /// <returns>The rows in file order.</returns>
    /// <exception cref="InvalidDataException">A column is missing, a row has no text, or a row's task is not an adapter (the message names the line).</exception>
    internal static List<PredictRow> ReadRows(string path, string? textColumn, string? pairColumn, string taskColumn, string? idColumn, IReadOnlyList<string> tasks)
    {
        IReadOnlyList<string> header;
        List<(int Line, Dictionary<string, string?> Fields)> records;
        try
        {
            (header, records) = CustomDataReader.ReadRecords(path);
        }
        catch (GlueFormatException e)
        {
            throw new InvalidDataException(e.Message, e);
        }

        string columns = string.Join(", ", header);
        string text = textColumn is not null
            ? header.Contains(textColumn) ? textColumn : throw new InvalidDataException($"{path}: no column \"{textColumn}\" (columns: {columns}); fix --text-column.")
            : TextDefaults.FirstOrDefault(header.Contains) ?? throw new InvalidDataException($"{path}: none of the columns {string.Join(", ", TextDefaults)} is there (columns: {columns}); name the text column with --text-column NAME.");
        string? pair = pairColumn is not null
            ? header.Contains(pairColumn) ? pairColumn : throw new InvalidDataException($"{path}: no column \"{pairColumn}\" (columns: {columns}); fix --text-pair-column.")
            : PairDefaults.FirstOrDefault(header.Contains);
        if (!header.Contains(taskColumn))
        {
            throw new InvalidDataException($"{path}: no column \"{taskColumn}\" (columns: {columns}); each row names its adapter in a task column (--task-column NAME).");
        }

        string? id = idColumn is not null
            ? header.Contains(idColumn) ? idColumn : throw new InvalidDataException($"{path}: no column \"{idColumn}\" (columns: {columns}); fix --id-column.")
            : header.Contains("id") ? "id" : null;
        var rows = new List<PredictRow>(records.Count);
        foreach (var (line, fields) in records)
        {
            string? task = fields.GetValueOrDefault(taskColumn)?.Trim();
            if (string.IsNullOrEmpty(task))
            {
                throw new InvalidDataException($"{path}, line {line}: the task column \"{taskColumn}\" is empty; every row names its adapter ({string.Join(", ", tasks)}).");
            }

            if (!tasks.Contains(task, StringComparer.Ordinal))
            {
                throw new InvalidDataException($"{path}, line {line}: task \"{task}\" is not one of the adapters ({string.Join(", ", tasks)}); add --adapter {task}=FILE or fix the row. Nothing was written.");
            }

            string? value = fields.GetValueOrDefault(text);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new InvalidDataException($"{path}, line {line}: the text column \"{text}\" is empty; every row needs its text.");
            }

            string? second = pair is null ? null : fields.GetValueOrDefault(pair);
            if (pair is not null && string.IsNullOrWhiteSpace(second))
            {
                throw new InvalidDataException($"{path}, line {line}: the second text column \"{pair}\" is empty; every row of a pair file needs both texts.");
            }

            string rowId = id is null ? line.ToString(CultureInfo.InvariantCulture) : fields.GetValueOrDefault(id) ?? string.Empty;
            rows.Add(new PredictRow(line, rowId, task, value, second));
        }

        if (rows.Count == 0)
        {
            throw new InvalidDataException($"{path} holds no rows; add one row per text to predict.");
        }

        return rows;
    }

    /// <summary>The softmax of one row's logits, in double precision.</summary>
    /// <param name="logits">The logits.</param>
    /// <returns>The probabilities.</returns>
    internal static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        double[] e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static int ArgMax(float[] logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    private static string ToJsonLines(List<PredictRow> rows, float[][] logits, IReadOnlyDictionary<string, IReadOnlyList<string>> labels)
    {
        var builder = new StringBuilder();
        using var buffer = new MemoryStream();
        for (int i = 0; i < rows.Count; i++)
        {
            buffer.SetLength(0);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("id", rows[i].Id);
                json.WriteString("task", rows[i].Task);
                if (logits[i].Length == 1)
                {
                    json.WriteNumber("score", logits[i][0]);
                }
                else
                {
                    IReadOnlyList<string> names = labels[rows[i].Task];
                    double[] probabilities = Softmax(logits[i]);
                    json.WriteString("label", names[ArgMax(logits[i])]);
                    json.WriteStartObject("probabilities");
                    for (int c = 0; c < names.Count; c++)
                    {
                        json.WriteNumber(names[c], Math.Round(probabilities[c], 6));
                    }

                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            builder.Append(Encoding.UTF8.GetString(buffer.ToArray())).Append('\n');
        }

        return builder.ToString();
    }

    private static string ToCsv(List<PredictRow> rows, float[][] logits, IReadOnlyDictionary<string, IReadOnlyList<string>> labels)
    {
        var builder = new StringBuilder();
        bool regression = logits.Length > 0 && logits[0].Length == 1;
        builder.Append(regression ? "id,task,score\n" : "id,task,label,probability\n");
        for (int i = 0; i < rows.Count; i++)
        {
            builder.Append(Quote(rows[i].Id)).Append(',').Append(Quote(rows[i].Task)).Append(',');
            if (regression)
            {
                builder.Append(logits[i][0].ToString("R", CultureInfo.InvariantCulture));
            }
            else
            {
                int best = ArgMax(logits[i]);
                builder.Append(Quote(labels[rows[i].Task][best])).Append(',')
                    .Append(Softmax(logits[i])[best].ToString("0.######", CultureInfo.InvariantCulture));
            }

            builder.Append('\n');
        }

        return builder.ToString();
    }

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : value;
}
