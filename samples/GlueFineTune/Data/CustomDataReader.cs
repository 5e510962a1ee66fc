using System.Globalization;
using System.Text;
using System.Text.Json;

namespace GlueFineTune.Data;

/// <summary>Which columns (TSV/CSV header names, JSONL keys) hold the text, the optional second text and the label.</summary>
/// <param name="Text">The text column; <c>null</c> for the first of text, sentence, sentence1, question, premise.</param>
/// <param name="TextPair">The second text's column; <c>null</c> for text_pair, sentence2 or hypothesis when present (else single text).</param>
/// <param name="Label">The label column; <c>null</c> for label, labels or score.</param>
internal sealed record CustomColumns(string? Text = null, string? TextPair = null, string? Label = null);

/// <summary>The user's data, read and checked: the task (label set, pair or not, regression or not) and both splits.</summary>
/// <param name="Task">The custom task.</param>
/// <param name="Train">The training examples.</param>
/// <param name="Dev">The dev examples.</param>
/// <param name="TrainSource">The training file.</param>
/// <param name="DevSource">The dev file.</param>
/// <param name="Columns">The columns used: text, second text (or null) and label.</param>
internal sealed record CustomData(GlueTask Task, IReadOnlyList<GlueExample> Train, IReadOnlyList<GlueExample> Dev, string TrainSource, string DevSource, (string Text, string? Pair, string Label) Columns)
{
    /// <summary>A line for the log.</summary>
    /// <returns>The description.</returns>
    public string Describe()
    {
        string texts = Columns.Pair is null ? $"text \"{Columns.Text}\"" : $"text pair \"{Columns.Text}\" + \"{Columns.Pair}\"";
        string labels = Task.IsRegression
            ? $"regression on \"{Columns.Label}\""
            : $"{Task.LabelNames.Count} classes from \"{Columns.Label}\": {string.Join(", ", Task.LabelNames.Select((l, i) => $"{l} ({Train.Count(e => e.Label == i)} train)"))}";
        return $"read {Train.Count} examples from {TrainSource} and {Dev.Count} from {DevSource}; {texts}; {labels}";
    }
}

/// <summary>
/// Reads the user's own labelled files for <c>--train</c>/<c>--dev</c>: TSV (header row, tab-separated, no
/// quoting), CSV (header row, RFC 4180 quoting, quoted fields may span lines) or JSONL (one JSON object per
/// line). Labels are class names or numbers (classification) or numbers (<c>--regression</c>). Every problem is
/// reported as <c>FILE, line N: …</c> with the fix.
/// </summary>
internal static class CustomDataReader
{
    private static readonly string[] TextDefaults = ["text", "sentence", "sentence1", "question", "premise"];
    private static readonly string[] PairDefaults = ["text_pair", "sentence2", "hypothesis"];
    private static readonly string[] LabelDefaults = ["label", "labels", "score"];

    /// <summary>Reads and checks both files.</summary>
    /// <param name="trainPath">The training file.</param>
    /// <param name="devPath">The dev file.</param>
    /// <param name="columns">The columns to use.</param>
    /// <param name="regression">Whether the label is a number to predict.</param>
    /// <returns>The task and the examples.</returns>
    /// <exception cref="GlueFormatException">A row is malformed (the message names the file and line).</exception>
    /// <exception cref="InvalidDataException">A file as a whole does not fit (unknown format, missing column, one class).</exception>
    public static CustomData Load(string trainPath, string devPath, CustomColumns columns, bool regression)
    {
        ArgumentNullException.ThrowIfNull(columns);
        var (trainHeader, trainRows) = ReadRecords(trainPath);
        string text = Column(trainPath, trainHeader, columns.Text, TextDefaults, "--text-column")!;
        string? pair = columns.TextPair is not null
            ? Column(trainPath, trainHeader, columns.TextPair, [], "--text-pair-column")
            : PairDefaults.FirstOrDefault(trainHeader.Contains);
        string label = Column(trainPath, trainHeader, columns.Label, LabelDefaults, "--label-column")!;
        var (devHeader, devRows) = ReadRecords(devPath);
        foreach (string column in new[] { text, pair, label }.OfType<string>())
        {
            if (!devHeader.Contains(column))
            {
                throw new InvalidDataException($"{devPath}: no column \"{column}\", which {trainPath} has (columns here: {string.Join(", ", devHeader)}); both files need the same columns.");
            }
        }

        IReadOnlyList<string> labelNames = [];
        if (!regression)
        {
            var seen = trainRows.Select(r => (r.Line, Value: Label(trainPath, r.Line, r.Fields, label))).ToList();
            var distinct = seen.Select(s => s.Value).Distinct(StringComparer.Ordinal).ToList();
            bool numeric = distinct.All(v => long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
            labelNames = numeric
                ? [.. distinct.OrderBy(v => long.Parse(v, CultureInfo.InvariantCulture))]
                : [.. distinct.Order(StringComparer.Ordinal)];
            if (labelNames.Count < 2)
            {
                throw new InvalidDataException($"{trainPath}: every row has label \"{labelNames.FirstOrDefault()}\"; classification needs at least two classes (or pass --regression for numeric targets).");
            }

            if (labelNames.Count > 2 && labelNames.Count * 2 > seen.Count)
            {
                // An id or a free-text column read as the label: one class per row leaves nothing to learn per class.
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{trainPath}: the label column \"{label}\" has {labelNames.Count} classes in {seen.Count} rows (e.g. {string.Join(", ", labelNames.Take(3).Select(l => $"\"{l}\""))}), fewer than two examples per class; it looks like an identifier or a text, not a label. Name the label column with --label-column NAME, or pass --regression for a numeric target."));
            }
        }

        GlueTask task = GlueTask.Custom("custom", labelNames, pair is not null, regression);
        var train = trainRows.Select(r => Example(task, trainPath, r.Line, r.Fields, text, pair, label)).ToList();
        var dev = devRows.Select(r => Example(task, devPath, r.Line, r.Fields, text, pair, label)).ToList();
        if (train.Count == 0 || dev.Count == 0)
        {
            throw new InvalidDataException($"{(train.Count == 0 ? trainPath : devPath)} holds no examples, only a header; add labelled rows.");
        }

        return new CustomData(task, train, dev, trainPath, devPath, (text, pair, label));
    }

    /// <summary>Reads a TSV, CSV or JSONL file into records (by column name) with the line each starts on.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The column names (TSV/CSV header, or the keys of JSONL's first object) and the records.</returns>
    internal static (IReadOnlyList<string> Header, List<(int Line, Dictionary<string, string?> Fields)> Rows) ReadRecords(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} does not exist; pass a TSV, CSV or JSONL file of labelled examples.", path);
        }

        string extension = Path.GetExtension(path).ToLowerInvariant();
        string content = File.ReadAllText(path, Encoding.UTF8);
        return extension switch
        {
            ".tsv" or ".tab" => ReadDelimited(path, content, '\t', quoting: false),
            ".csv" => ReadDelimited(path, content, ',', quoting: true),
            ".jsonl" or ".ndjson" or ".json" => ReadJsonLines(path, content),
            _ => throw new InvalidDataException($"{path}: unknown format \"{extension}\"; name the file .tsv (tab-separated with a header row), .csv (comma-separated with a header row) or .jsonl (one JSON object per line)."),
        };
    }

    private static (IReadOnlyList<string>, List<(int, Dictionary<string, string?>)>) ReadJsonLines(string path, string content)
    {
        var rows = new List<(int, Dictionary<string, string?>)>();
        var header = new List<string>();
        string[] lines = content.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                throw new GlueFormatException(path, i + 1, $"not valid JSON ({e.Message}); write one JSON object per line.");
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new GlueFormatException(path, i + 1, $"a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object; write one object per line, e.g. {{\"text\": \"…\", \"label\": \"…\"}}.");
                }

                var fields = new Dictionary<string, string?>(StringComparer.Ordinal);
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    fields[property.Name] = property.Value.ValueKind switch
                    {
                        JsonValueKind.String => property.Value.GetString(),
                        JsonValueKind.Null => null,
                        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => property.Value.GetRawText(),
                        _ => throw new GlueFormatException(path, i + 1, $"\"{property.Name}\" is a JSON {property.Value.ValueKind.ToString().ToLowerInvariant()}; texts and labels must be strings or numbers."),
                    };
                    if (!header.Contains(property.Name))
                    {
                        header.Add(property.Name);
                    }
                }

                rows.Add((i + 1, fields));
            }
        }

        return (header, rows);
    }

    private static (IReadOnlyList<string>, List<(int, Dictionary<string, string?>)>) ReadDelimited(string path, string content, char separator, bool quoting)
    {
        var records = SplitRecords(path, content, separator, quoting);
        if (records.Count == 0)
        {
            throw new InvalidDataException($"{path} is empty; it needs a header row naming the columns, then one row per example.");
        }

        var (_, header) = records[0];
        var duplicate = header.GroupBy(h => h, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new GlueFormatException(path, 1, $"the header names column \"{duplicate.Key}\" twice; give every column its own name.");
        }

        var rows = new List<(int, Dictionary<string, string?>)>();
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue; // a blank line
            }

            if (fields.Count != header.Count)
            {
                string hint = separator == '\t' ? " (a tab inside a text? TSV has no quoting: use .csv or .jsonl for such texts)" : string.Empty;
                throw new GlueFormatException(path, line, $"{fields.Count} fields but the header has {header.Count} ({string.Join(", ", header)}){hint}.");
            }

            var record = new Dictionary<string, string?>(StringComparer.Ordinal);
            for (int c = 0; c < header.Count; c++)
            {
                record[header[c]] = fields[c];
            }

            rows.Add((line, record));
        }

        return (header, rows);
    }

    /// <summary>Splits delimited text into records of fields, each with the 1-based line it starts on.</summary>
    private static List<(int Line, List<string> Fields)> SplitRecords(string path, string content, char separator, bool quoting)
    {
        var records = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, recordLine = 1, quoteLine = 0;
        bool inQuotes = false, wasQuoted = false;
        int start = content.Length > 0 && content[0] == '\uFEFF' ? 1 : 0;
        for (int i = start; i < content.Length; i++)
        {
            char ch = content[i];
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (i + 1 < content.Length && content[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    if (ch == '\n')
                    {
                        line++;
                    }

                    field.Append(ch);
                }

                continue;
            }

            if (ch == separator)
            {
                fields.Add(field.ToString());
                field.Clear();
                wasQuoted = false;
            }
            else if (ch == '\n' || ch == '\r')
            {
                if (ch == '\r' && i + 1 < content.Length && content[i + 1] == '\n')
                {
                    i++;
                }

                fields.Add(field.ToString());
                field.Clear();
                records.Add((recordLine, fields));
                fields = [];
                wasQuoted = false;
                line++;
                recordLine = line;
            }
            else if (quoting && ch == '"' && field.Length == 0 && !wasQuoted)
            {
                inQuotes = true;
                wasQuoted = true;
                quoteLine = line;
            }
            else if (quoting && wasQuoted)
            {
                throw new GlueFormatException(path, line, $"text after a closing quote in a field; in CSV write a quote inside a quoted field as \"\".");
            }
            else
            {
                field.Append(ch);
            }
        }

        if (inQuotes)
        {
            throw new GlueFormatException(path, quoteLine, "a quoted field is never closed; add the closing \" (quotes inside a field are written \"\").");
        }

        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            records.Add((recordLine, fields));
        }

        return records;
    }

    private static string? Column(string path, IReadOnlyList<string> header, string? requested, string[] defaults, string option)
    {
        if (requested is not null)
        {
            return header.Contains(requested)
                ? requested
                : throw new InvalidDataException($"{path}: no column \"{requested}\" (columns: {string.Join(", ", header)}); fix {option}.");
        }

        return defaults.FirstOrDefault(header.Contains)
            ?? throw new InvalidDataException($"{path}: none of the columns {string.Join(", ", defaults)} is there (columns: {string.Join(", ", header)}); name the column with {option} NAME.");
    }

    private static string Label(string path, int line, Dictionary<string, string?> fields, string column)
    {
        string? value = fields.GetValueOrDefault(column)?.Trim();
        return string.IsNullOrEmpty(value)
            ? throw new GlueFormatException(path, line, $"the label column \"{column}\" is empty; every example needs a label.")
            : value;
    }

    private static GlueExample Example(GlueTask task, string path, int line, Dictionary<string, string?> fields, string textColumn, string? pairColumn, string labelColumn)
    {
        string first = Text(path, line, fields, textColumn);
        string? second = pairColumn is null ? null : Text(path, line, fields, pairColumn);
        string label = Label(path, line, fields, labelColumn);
        if (task.IsRegression)
        {
            if (!double.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out double score) || !double.IsFinite(score))
            {
                throw new GlueFormatException(path, line, $"label \"{label}\" is not a number; --regression needs numeric targets (drop --regression to classify).");
            }

            return GlueExample.Regression(first, second, (float)score, line);
        }

        int id = -1;
        for (int i = 0; i < task.LabelNames.Count; i++)
        {
            if (task.LabelNames[i] == label)
            {
                id = i;
                break;
            }
        }

        return id >= 0
            ? GlueExample.Classification(first, second, id, line)
            : throw new GlueFormatException(path, line, $"label \"{label}\" does not occur in the training file (its labels: {string.Join(", ", task.LabelNames)}); fix the label or add training examples of that class.");
    }

    private static string Text(string path, int line, Dictionary<string, string?> fields, string column)
    {
        string? value = fields.GetValueOrDefault(column);
        return string.IsNullOrWhiteSpace(value)
            ? throw new GlueFormatException(path, line, $"the text column \"{column}\" is empty; every example needs its text.")
            : value;
    }
}
