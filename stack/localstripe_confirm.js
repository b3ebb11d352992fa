// Appended by stack/localstripe.py to localstripe's Stripe.js stand-in (same script: LOCALSTRIPE_BASE_API is its).
// `stripe.confirmCardPayment(clientSecret, {payment_method: {card: cardElement}})` as Stripe.js does it: the card
// goes to the provider with the publishable key and the intent's client secret, never to the shop's server; a card
// that asks for 3-D Secure then gets the stand-in's own challenge. Without a card, the stand-in's call is unchanged.
(function () {
  const standIn = Stripe;
  Stripe = (apiKey) => {
    const stripe = standIn(apiKey);
    const challenge = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const card = data && data.payment_method && data.payment_method.card;
      if (!card) {
        return challenge(clientSecret, data);
      }
      try {
        const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
        const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey,
            client_secret: clientSecret,
            payment_method_data: {type: 'card', card: card.value ? card.value.card : card},
          }),
        });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200 || body.error) {
          return {error: body.error || {message: `confirm failed with HTTP ${response.status}`}};
        }
        if (body.status !== 'requires_action') {
          return {paymentIntent: body};
        }
        const answered = await challenge(clientSecret, data);
        if (!answered.error && answered.paymentIntent.status === 'requires_payment_method') {
          return {error: {code: 'payment_intent_authentication_failure',
                          message: 'The 3-D Secure authentication failed.'},
                  paymentIntent: answered.paymentIntent};
        }
        return answered;
      } catch (err) {
        return {error: (typeof err === 'object' && err.error) ? err.error : {message: String(err)}};
      }
    };
    return stripe;
  };
})();
