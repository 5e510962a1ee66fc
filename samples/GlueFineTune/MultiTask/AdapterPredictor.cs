using GlueFineTune.Data;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace GlueFineTune.MultiTask;

/// <summary>One row to predict: where it comes from, its id, its task (an adapter's name) and its text.</summary>
/// <param name="Line">The 1-based line of the row in its file.</param>
/// <param name="Id">The row's id (the id column, or the line number).</param>
/// <param name="Task">The adapter the row uses.</param>
/// <param name="Text">The text.</param>
/// <param name="Pair">The second text of a pair task, or <c>null</c>.</param>
internal sealed record PredictRow(int Line, string Id, string Task, string Text, string? Pair);

/// <summary>
/// Several adapters on one base model, predicting rows of different tasks in shared batches: each batch is one forward pass
/// inside <see cref="AdapterBank.Route(int[])"/>, each row with its own adapter's σ, b and head.
/// </summary>
internal sealed class AdapterPredictor : IDisposable
{
    private readonly BankModel bank;

    private AdapterPredictor(BankModel bank, IReadOnlyDictionary<string, IReadOnlyList<string>> labels, int numLabels, int maxLength)
    {
        this.bank = bank;
        Labels = labels;
        NumLabels = numLabels;
        MaxLength = maxLength;
    }

    /// <summary>Each adapter's class names (from its <c>.labels.json</c>, or the class numbers).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Labels { get; }

    /// <summary>The head's outputs (1: a regression head).</summary>
    public int NumLabels { get; }

    /// <summary>The longest input in tokens.</summary>
    public int MaxLength { get; }

    /// <summary>The adapters' names, in the order given.</summary>
    public IReadOnlyList<string> Names => bank.Bank.Names.Skip(1).ToList();

    /// <summary>
    /// Builds the base model from <paramref name="modelDirectory"/> and loads every adapter into its bank, each checked against
    /// the base (fingerprint, layers, head) before anything runs.
    /// </summary>
    /// <param name="modelDirectory">The checkpoint folder the adapters were trained on.</param>
    /// <param name="adapters">The adapters by name (unique names).</param>
    /// <param name="pooling">The pooling the adapters were trained with.</param>
    /// <param name="maxLength">The longest input in tokens.</param>
    /// <returns>The predictor.</returns>
    /// <exception cref="InvalidDataException">The adapters disagree on the head's size or variant, or one is not a VectorFit adapter.</exception>
    /// <exception cref="AdapterException">An adapter belongs to another base model (the message says which and why).</exception>
    public static AdapterPredictor Open(string modelDirectory, IReadOnlyList<NamedFile> adapters, Pooling pooling, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        if (adapters.Count == 0)
        {
            throw new ArgumentException("predict needs at least one adapter (--adapter NAME=FILE).", nameof(adapters));
        }

        AdapterInfo? first = null;
        int? numLabels = null;
        var labels = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (name, path) in adapters)
        {
            AdapterInfo info = VectorFitAdapter.ReadInfo(path);
            if (info.Method != AdaptationMethod.VectorFit)
            {
                throw new InvalidDataException($"--adapter {name}={path} is a {info.Method} adapter; predict banks VectorFit adapters (σ and b per layer) only. Predict with that adapter alone after training, or train with --method vectorfit.");
            }

            first ??= info;
            if (info.Variant != first.Variant)
            {
                throw new InvalidDataException($"--adapter {name}={path} was trained with variant {VariantNames.Name(info.Variant)} but {adapters[0].Name} with {VariantNames.Name(first.Variant)}; one bank holds adapters of one variant (the same vectors train).");
            }

            int outputs = HeadOutputs(path);
            if (numLabels is { } n && n != outputs)
            {
                throw new InvalidDataException($"--adapter {name}={path} has a head of {outputs} outputs but {adapters[0].Name} one of {n}; the adapters of one base share the head's shape (the same number of classes).");
            }

            numLabels = outputs;
            IReadOnlyList<string> names = AdapterLabels.Read(path) ?? Enumerable.Range(0, outputs).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            if (outputs > 1 && names.Count != outputs)
            {
                throw new InvalidDataException($"{AdapterLabels.PathFor(path)} names {names.Count} classes but the adapter's head has {outputs} outputs; it belongs to another adapter.");
            }

            labels[name] = names;
        }

        BankModel model = BankModel.Create(modelDirectory, numLabels!.Value, pooling, first!.Variant);
        try
        {
            foreach (var (name, path) in adapters)
            {
                model.Bank.Load(name, path);
            }

            model.Model.eval();
            return new AdapterPredictor(model, labels, numLabels.Value, maxLength);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The logits of every row, in the rows' order: the rows are batched by encoded length (shortest first, ties in file order),
    /// whatever their tasks, <paramref name="batchSize"/> per routed pass, so a batch pads to about its own rows' length
    /// rather than to the longest row near it in the file.
    /// </summary>
    /// <param name="rows">The rows; each task must be one of <see cref="Names"/>.</param>
    /// <param name="batchSize">Rows per forward pass.</param>
    /// <param name="progress">Called after each batch with the rows done.</param>
    /// <returns>One array of <see cref="NumLabels"/> logits per row.</returns>
    public float[][] Logits(IReadOnlyList<PredictRow> rows, int batchSize, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var result = new float[rows.Count][];
        if (rows.Count == 0)
        {
            return result;
        }

        int[] adapterOf = rows.Select(r => bank.Bank.IndexOf(r.Task)).ToArray();
        var task = GlueTask.Custom("predict", ["0", "1"], rows.Any(r => r.Pair is not null), regression: false);
        var encoded = new EncodedDataset(bank.Tokenizer, rows.Select(r => GlueExample.Classification(r.Text, r.Pair, 0, r.Line)).ToList(), task, MaxLength, bank.Model.Config.VocabSize);
        using var noGrad = no_grad();
        int done = 0;
        foreach (int[] indices in BatchPlan(Enumerable.Range(0, rows.Count).Select(encoded.LengthOf).ToArray(), batchSize))
        {
            using var scope = NewDisposeScope();
            TensorBatch batch = encoded.MakeBatch(indices);
            Tensor logits;
            using (bank.Bank.Route(indices.Select(i => adapterOf[i]).ToArray()))
            {
                logits = bank.Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
            }

            float[] values = logits.to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            for (int b = 0; b < indices.Length; b++)
            {
                result[indices[b]] = values.AsSpan(b * NumLabels, NumLabels).ToArray();
            }

            NativeHeap.Trim();
            done += indices.Length;
            progress?.Invoke(done);
        }

        return result;
    }

    /// <summary>Batches of row indices by length: every index once, shortest rows first (a stable order), at most <paramref name="batchSize"/> per batch.</summary>
    /// <param name="lengths">Each row's encoded length.</param>
    /// <param name="batchSize">Rows per batch (at least 1).</param>
    /// <returns>The batches in the order to run them.</returns>
    internal static IEnumerable<int[]> BatchPlan(IReadOnlyList<int> lengths, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        return Enumerable.Range(0, lengths.Count).OrderBy(i => lengths[i]).Chunk(batchSize);
    }

    /// <inheritdoc />
    public void Dispose() => bank.Dispose();

    /// <summary>The number of outputs of an adapter's head: the first dimension of its classifier's output weight.</summary>
    private static int HeadOutputs(string path)
    {
        using SafetensorsReader reader = SafetensorsReader.Open(path);
        SafetensorsTensorInfo? weight = reader.Tensors.FirstOrDefault(t => t.Name.EndsWith("classifier.weight", StringComparison.Ordinal) && t.Shape.Length == 2)
            ?? reader.Tensors.FirstOrDefault(t => t.Name.EndsWith("classifier.out_proj.weight", StringComparison.Ordinal) && t.Shape.Length == 2);
        return weight is not null
            ? checked((int)weight.Shape[0])
            : throw new InvalidDataException($"{path} saves no classifier head (no *classifier.weight tensor); predict needs adapters the sample's training wrote, which save the task head.");
    }
}
