using static TorchSharp.torch;

namespace VectorFit.Transformers.Models;

/// <summary>Runs an encoder's blocks so that a forward holds one block's temporaries at a time.</summary>
internal static class EncoderBlocks
{
    /// <summary>
    /// Applies <paramref name="blocks"/> in order to <paramref name="hidden"/>. Each block runs in a dispose scope of its own
    /// (its temporaries are freed when it returns), and each intermediate output is disposed once the next block has used it;
    /// <paramref name="hidden"/> itself (the caller's) is never disposed, and the last output goes to the caller's scope.
    /// </summary>
    /// <remarks>
    /// Without this a TorchSharp dispose scope keeps every temporary of every block until the caller's scope ends: under
    /// <c>no_grad</c> (evaluation) that is the whole forward's activations, ~800 MiB for all-MiniLM-L6-v2 at 64 × 64 tokens.
    /// Disposing a handle never frees what autograd saved for backward (it holds its own references), so training is unchanged.
    /// </remarks>
    /// <typeparam name="TBlock">The block type.</typeparam>
    /// <param name="hidden">The encoder's input <c>(batch, length, hidden)</c>.</param>
    /// <param name="blocks">The blocks.</param>
    /// <param name="call">Runs one block on the hidden states.</param>
    /// <returns>The last block's output (the input when there is no block).</returns>
    public static Tensor Run<TBlock>(Tensor hidden, IEnumerable<TBlock> blocks, Func<TBlock, Tensor, Tensor> call)
    {
        Tensor current = hidden;
        foreach (TBlock block in blocks)
        {
            Tensor next;
            using (var scope = NewDisposeScope())
            {
                next = call(block, current).MoveToOuterDisposeScope();
            }

            if (!ReferenceEquals(current, hidden) && !ReferenceEquals(current, next))
            {
                current.Dispose();
            }

            current = next;
        }

        return current;
    }
}
