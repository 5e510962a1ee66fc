using GlueFineTune.Training;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;

namespace GlueFineTune.MultiTask;

/// <summary>
/// One adapted base model with an <see cref="AdapterBank"/> on it, built from a checkpoint folder exactly as the sample's
/// training builds its model (same pooling rule, same head, VectorFit's q/k/v/o/f1/f2 surgery), so that the adapter files
/// the training writes load into the bank. Used by <c>predict</c> and by multi-task training.
/// </summary>
internal sealed class BankModel : IDisposable
{
    private BankModel(SequenceClassifier model, LoadReport load, SurgeryReport surgery, AdapterBank bank, ITokenizer tokenizer, IReadOnlyList<string> head)
    {
        Model = model;
        Load = load;
        Surgery = surgery;
        Bank = bank;
        Tokenizer = tokenizer;
        Head = head;
    }

    /// <summary>The adapted model (its heads wrapped by the bank).</summary>
    public SequenceClassifier Model { get; }

    /// <summary>What loading the checkpoint did.</summary>
    public LoadReport Load { get; }

    /// <summary>The surgery.</summary>
    public SurgeryReport Surgery { get; }

    /// <summary>The bank: row 0 the base, then the adapters.</summary>
    public AdapterBank Bank { get; }

    /// <summary>The checkpoint's tokenizer.</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>The modules trained fully with the head (e.g. <c>classifier</c>).</summary>
    public IReadOnlyList<string> Head { get; }

    /// <summary>Loads the checkpoint, adapts it with VectorFit and creates the bank (holding only the base).</summary>
    /// <param name="modelDirectory">The checkpoint folder.</param>
    /// <param name="numLabels">The head's outputs (every adapter of the bank has the same head shape).</param>
    /// <param name="pooling">How the model pools (as in training).</param>
    /// <param name="variant">The VectorFit variant the adapters were trained with (which vectors train).</param>
    /// <returns>The model and its bank.</returns>
    public static BankModel Create(string modelDirectory, int numLabels, Pooling pooling, VectorFitVariant variant)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        ITokenizer tokenizer = TokenizerFactory.FromPretrained(modelDirectory);
        var (model, load) = CheckpointLoader.Load(modelDirectory, numLabels);
        try
        {
            model.Pooling = pooling;
            // The same head as TrainingSession: the trained head prefixes, and the pooler only when pooling uses it.
            var head = model.TrainedHeadPrefixes
                .Concat(load.InitialisedPrefixes.Where(p => pooling == Pooling.Pooler || p != model.PoolerPrefix))
                .Distinct(StringComparer.Ordinal).Select(p => p.TrimEnd('.')).ToList();
            SurgeryReport surgery = ModelSurgery.Apply(model, TrainingSession.SurgeryConfig(model, variant, head));
            AdapterBank bank = AdapterBank.Create(model, surgery);
            return new BankModel(model, load, surgery, bank, tokenizer, head);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Bank.Dispose();
        Model.Dispose();
    }
}
