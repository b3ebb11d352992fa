// The pay page's script: Stripe.js confirms the order's PaymentIntent with the card, in the browser (the card never
// reaches our server), then the page returns to our server, which re-reads the intent from the provider. It
// decides nothing: whether the order is paid is the provider's answer, read by the order's workflow.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") return;
  const stripe = Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const button = document.getElementById("card-pay");
    button.disabled = true;
    const result = await stripe.confirmCardPayment(form.dataset.clientSecret, { payment_method: { card: card } });
    if (result.error) {
      document.getElementById("card-error").textContent = result.error.message || "The card was not accepted.";
      button.disabled = false;
      return;
    }
    window.location.assign(form.dataset.returnUrl);
  });
});
